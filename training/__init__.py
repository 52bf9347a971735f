"""ELBO Lab trainer: a VAE on binarized MNIST and the ELBO-surgery estimators.

Modules (one job each, nothing runs at import), from the bottom layer up:

- :mod:`training.io`          -- the one atomic writer, the folder lock, path checks, the errors the CLI prints
  (``TrainingError``, ``UsageError``, ``ConfigError``, ...).
- :mod:`training.prior_spec`  -- the one parser of the prior spec ``standard`` / ``mog:K`` / ``vamp:K``.
- :mod:`training.config`      -- :class:`TrainConfig`, the commented run configuration, validated when it is made.
- :mod:`training.data`        -- MNIST in torchvision's layout, read with size bounds, sha256-verified, dynamically
  binarized.
- :mod:`training.estimators`  -- the KL term (closed form or log q − log p), the reparameterized draw, the estimate
  type (value, standard error, n), the reconstruction term and the IWAE bound; used by every command below.
- :mod:`training.priors`      -- the priors p(z): N(0, I), a mixture of Gaussians, the VampPrior.
- :mod:`training.model`       -- the MLP VAE and its ELBO terms, returned by name (nats).
- :mod:`training.objective`   -- the training objective: KL weight (beta, warm-up) and free bits.
- :mod:`training.elbo_step`   -- the ELBO's gradient written out (the fast CPU step), checked against autograd.
- :mod:`training.checkpoint`  -- a run folder's files: reading a checkpoint and the model it holds.
- :mod:`training.surgery_estimators` -- Hoffman & Johnson (2016) ELBO-surgery estimators (marginal KL, index-code MI).
- :mod:`training.result_files` -- the one reader of the result files and their schema (``results.schema.json``),
  the contract with vizlab/ and book/.
- :mod:`training.cli`         -- the command lines' shared parsing and error handling; options made from
  ``TrainConfig``'s field metadata (:func:`training.cli.add_config_option`).
- :mod:`training.recipe`      -- the training recipe of ``reproduce``, as ``TrainConfig`` values.
- :mod:`training.plan`        -- ``reproduce``'s calibration (this machine's speed) and plan (the epochs).
- :mod:`training.workers`     -- ``reproduce``'s worker processes, each a public command (train, evaluate, calibrate).
- :mod:`training.publish`     -- ``reproduce``'s publishing: the results copied with the job's provenance.

Commands (each imports the modules above, never another command):

- :mod:`training.train`       -- the resumable training loop (``python -m training train``).
- :mod:`training.evaluate`    -- the results file of a run (``python -m training evaluate``).
- :mod:`training.reproduce`   -- Table 1 in one resumable job (``python -m training reproduce``); ``python -m
  training calibrate`` measures the training step's speed for its plan.
- :mod:`training.prior_study` -- beyond Table 1: optimal and fitted priors, IWAE against K, active units.
- :mod:`training.samples`     -- decoded samples and reconstructions of a run, for the book.
- :mod:`training.beta_sweep`  -- reads the β-sweep's results files for the book and the scenes.
- :mod:`training.__main__`    -- the ``python -m training`` entry point.
"""
