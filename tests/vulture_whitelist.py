"""Names vulture reports as unused at 60 % confidence that are in use (read by vulture, never run or collected).

Audit all of it with `vulture fac_engine fac_app pages app.py tests/vulture_whitelist.py`; `make test` runs
the same at --min-confidence 80. Add a name here only with the reason it is alive; remove dead code instead.
"""

import numpy as np

import fac_engine.coverage
from fac_engine.coverage.diversity import DiversityResult, distinct_n, ngram_entropy
from fac_engine.data.corpora.corpus import CorpusSummary
from fac_engine.data.dataset import Dataset
from fac_engine.evaluation.probe import Metrics
from fac_engine.evaluation.results import Headroom, SeedScores
from fac_engine.models.sentence import SENTENCE_DIM
from fac_engine.sae.load import SAE_FORMATS, detect_format
from fac_engine.sae.metrics import SaeMetrics
from fac_engine.sae.model import SparseAutoencoder
from fac_engine.sae.topk_encode import TopKEncode
from fac_engine.sae.train import StepLog
from fac_engine.synthesis.curation import SynthesisStore

# Python calls these: the lazy public-name hook of every package __init__ (PEP 562) and autograd's forward.
fac_engine.coverage.__getattr__
TopKEncode.forward

# Result fields read by name: asdict / _asdict into JSON and tables, getattr over metric names, pages, tests.
DiversityResult.n_texts
DiversityResult.entropy_1
DiversityResult.mean_cosine_distance
CorpusSummary.empty_dropped
Dataset.text_columns
Metrics.roc_auc
SeedScores.roc_auc
Headroom.requested
SaeMetrics.mse
SaeMetrics.normalised_mse
StepLog.aux_loss

# Public API the tests pin (kept on purpose): format detection, sparse decoding, the curation audit log,
# the list of SAE formats, the sentence embedding width, and the paper's text-diversity baselines one n at a time.
detect_format
SparseAutoencoder.decode_sparse
SynthesisStore.events
SAE_FORMATS
SENTENCE_DIM
distinct_n
ngram_entropy

# The test server for the browser tests, the benchmarks and the screenshot script (not the app's own code).

# numpy's array flag, set to share arrays read-only between sessions (fac_app/state.py).
np.empty(0).flags.writeable
