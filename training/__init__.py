"""ELBO Lab trainer: a VAE on binarized MNIST and the ELBO-surgery estimators.

Modules (one job each, nothing runs at import):

- :mod:`training.config`   -- :class:`TrainConfig`, the commented run configuration, and its validation.
- :mod:`training.data`     -- MNIST in torchvision's layout, read with size bounds, sha256-verified, dynamically
  binarized.
- :mod:`training.model`    -- the MLP VAE and its ELBO terms, returned by name (nats).
- :mod:`training.train`    -- the resumable training loop (locked run folder, atomic checkpoints holding the
  metrics and the run's history).
- :mod:`training.surgery_estimators`  -- Hoffman & Johnson (2016) ELBO-surgery estimators (marginal KL, index-code MI).
- :mod:`training.evaluate` -- the results file (train terms, test ELBO, IWAE bound, encodings, manifold).
- :mod:`training.result_files` -- the one reader of the result files and their schema (``results.schema.json``),
  the contract with vizlab/ and book/.
- :mod:`training.io`       -- the one atomic writer, the folder lock, path checks, the errors the CLI prints.
"""
