"""Tests of the peers (optax, flax, equinox), ported to run against jaxdl; each names its original."""
