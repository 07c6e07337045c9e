"""Project settings and curation data (SQLite), by hand."""

from pathlib import Path

import pytest

from fac_engine.errors import FacError
from fac_engine.workspace.project import Project, ProjectConfig


def test_settings_round_trip_and_defaults(tmp_path: Path) -> None:
    project = Project(tmp_path, "demo")
    assert project.config == ProjectConfig(name="demo")
    project.update(anchor="a", seed="s", threshold=0.5)
    again = Project(tmp_path, "demo").config
    assert (again.anchor, again.seed, again.threshold, again.model) == ("a", "s", 0.5, "embedded")
    assert Project.names(tmp_path) == ["demo"]
    with pytest.raises(FacError, match="threshold must be >= 0"):
        project.update(threshold=-1.0)


def test_feature_lists_survive_reopening(tmp_path: Path) -> None:
    Project(tmp_path).add_to_list("toxic gaps", [7, 3, 7])
    other_tab = Project(tmp_path)
    other_tab.add_to_list("toxic gaps", [11])
    other_tab.add_to_list("later", [1])
    project = Project(tmp_path)
    assert project.list_names() == ["later", "toxic gaps"]
    assert project.features_in("toxic gaps") == [3, 7, 11]
    project.remove_from_list("toxic gaps", [7])
    assert project.features_in("toxic gaps") == [3, 11]
    project.delete_list("later")
    assert project.list_names() == ["toxic gaps"] and project.features_in("nope") == []
    with pytest.raises(FacError, match="needs a name"):
        project.add_to_list("  ", [1])


def test_user_explanations_win_and_are_searchable(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.set_explanation(4, "insults about intelligence", source="offline")
    project.set_explanation(4, "Insults aimed at someone's intelligence")  # the user's edit
    project.set_explanation(4, "generated later", source="offline")  # must not replace it
    project.set_explanation(9, "weather small talk", source="offline")
    assert project.explanations() == {4: "Insults aimed at someone's intelligence", 9: "weather small talk"}
    assert project.explanation_sources() == {4: "user", 9: "offline"}
    assert project.search_explanations("INSULTS intelligence") == [4]
    assert project.search_explanations("talk") == [9] and project.search_explanations("zebra") == []


def test_bulk_explanations_never_replace_user_edits(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.set_explanation(2, "mine")
    assert project.set_explanations({1: "a", 2: "b", 3: "c"}, source="offline") == 2
    assert project.explanations() == {1: "a", 2: "mine", 3: "c"}


def test_relevance_marks_combine_and_a_user_mark_wins(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.set_relevance_marks("contrast", {1: "relevant", 2: "relevant"})
    project.set_relevance_marks("judge", {2: "No", 3: "Maybe", 4: "Probably", 5: "No", 6: "Yes"})
    project.mark_relevant(5, True)
    project.mark_relevant(6, False)  # the judge said Yes; the person disagrees
    again = Project(tmp_path)
    assert again.relevance_marks("user") == {5: "relevant", 6: "not relevant"}
    assert again.relevant_features() == frozenset({1, 2, 3, 4, 5})
    assert again.relevant_features(["contrast"]) == frozenset({1, 2})
    assert again.relevant_features(["judge"]) == frozenset({3, 4, 6})
    assert again.relevant_features(["judge", "user"]) == frozenset({3, 4, 5})
    project.set_relevance_marks("contrast", {7: "relevant"})  # replaces the contrast marks only
    project.mark_relevant(6, None)
    assert project.relevance_marks("contrast") == {7: "relevant"} and project.relevance_marks("user") == {5: "relevant"}
    assert project.relevant_features() == frozenset({3, 4, 5, 6, 7})


def test_relevance_marks_refuse_bad_input(tmp_path: Path) -> None:
    project = Project(tmp_path)
    with pytest.raises(FacError, match="judge marks must be one of Yes, Probably, Maybe, No; got maybe"):
        project.set_relevance_marks("judge", {1: "maybe"})
    with pytest.raises(FacError, match="not 'user'"):
        project.set_relevance_marks("user", {1: "relevant"})
    with pytest.raises(FacError, match="Unknown relevance source"):
        project.relevant_features(["llm"])  # type: ignore[list-item]
