"""FAC Synthesis: generator backends (this package grows the two-step synthesis of FAC_METHOD.md section 4)."""
