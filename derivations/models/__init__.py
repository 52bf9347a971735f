r"""Exact toy models and numeric helpers used by the identities (not identities themselves).

* :mod:`derivations.models.linear_gaussian` -- :math:`z \sim \mathcal{N}(0, 1)`, :math:`x \mid z \sim
  \mathcal{N}(wz + b, s^2)`, :math:`q = \mathcal{N}(m, v)`: evidence, posterior, ELBO and KL in closed form.
* :mod:`derivations.models.gradient_estimators` -- per-sample score-function and reparameterization gradients
  of :math:`\mathbb{E}_{\mathcal{N}(\mu, \sigma^2)} f` for a cubic :math:`f`, and the exact gradient.
* :mod:`derivations.models.surgery_oracles` -- exact ELBO-surgery terms (discrete latent; Gaussian encoders by
  quadrature), the oracles ``training``'s estimators are tested against.
* :mod:`derivations.models.gaussian` -- the closed-form KL of a diagonal Gaussian to :math:`\mathcal{N}(0, I)`
  (the form the identity ``gaussian_kl`` proves; a model imports no identity).

Importing this package imports none of its modules.
"""
