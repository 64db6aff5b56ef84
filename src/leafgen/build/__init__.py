"""Stage 5, build: plan jobs, fingerprint inputs, run them in parallel, keep the manifest."""
