"""Published DARTS-space cells, copied verbatim from the official ``genotypes.py`` files.

Sources (spec §9.2): DARTS_V1/V2, SNAS_* from SNAS-Series ``SNAS/genotypes.py`` (DARTS_V1/V2 are
identical in DrNAS ``DARTS-space/genotypes.py``); DrNAS_cifar10 / DrNAS_imagenet and PC-DARTS cells
from DrNAS ``DARTS-space/genotypes.py``; GDAS_V1 from AutoDL-Projects' ``genotypes.py``
("from NAS-Projects .../GDAS/lib/nas/genotypes.py"). Texts are kept as published (``range(2, 6)``
included) so they double as parser fixtures; use :func:`published` for parsed values.
"""

from __future__ import annotations

from automl_nas_space_darts.genotype import DartsGenotype, parse_genotype

__all__ = ["PUBLISHED", "published"]

PUBLISHED: dict[str, str] = {
    "DARTS_V1": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
    "DARTS_V2": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    "SNAS_mild": """Genotype(
  normal=[
    ('sep_conv_3x3', 0),
    ('sep_conv_3x3', 1),
    ('skip_connect', 0),
    ('dil_conv_3x3', 1),
    ('skip_connect', 0),
    ('skip_connect', 1),
    ('skip_connect', 0),
    ('sep_conv_3x3', 1)],
  normal_concat=range(2, 6),
  reduce=[
    ('max_pool_3x3', 0),
    ('max_pool_3x3', 1),
    ('max_pool_3x3', 1),
    ('skip_connect', 2),
    ('max_pool_3x3', 1),
    ('skip_connect', 2),
    ('max_pool_3x3', 0),
    ('dil_conv_5x5', 2)],
  reduce_concat=range(2, 6))""",
    "SNAS_mild_edge_all": """Genotype(
  normal=[
    ('sep_conv_3x3', 0),
    ('sep_conv_3x3', 1),
    ('skip_connect', 0),
    ('dil_conv_3x3', 1),
    ('none', 2),
    ('skip_connect', 0),
    ('skip_connect', 1),
    ('none', 3),
    ('none', 2),
    ('skip_connect', 0),
    ('sep_conv_3x3', 1),
    ('none', 4),
    ('none', 3),
    ('none', 2)],
  normal_concat=range(2, 6),
  reduce=[
    ('max_pool_3x3', 0),
    ('max_pool_3x3', 1),
    ('none', 0),
    ('max_pool_3x3', 1),
    ('skip_connect', 2),
    ('none', 0),
    ('max_pool_3x3', 1),
    ('skip_connect', 2),
    ('none', 3),
    ('max_pool_3x3', 0),
    ('dil_conv_5x5', 2),
    ('none', 1),
    ('none', 3),
    ('none', 4)],
  reduce_concat=range(2, 6))""",
    "SNAS_moderate": "Genotype(normal=[('dil_conv_5x5', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 1)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1)], reduce_concat=range(2, 6))",
    "SNAS_moderate_edge_all": "Genotype(normal=[('dil_conv_5x5', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 1), ('none', 2), ('skip_connect', 0), ('none', 3), ('none', 2), ('skip_connect', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 1), ('none', 4), ('none', 3), ('none', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_5x5', 0), ('none', 2), ('dil_conv_5x5', 1), ('none', 3), ('none', 2), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1), ('none', 4), ('none', 3), ('none', 2), ('sep_conv_5x5', 0), ('sep_conv_5x5', 1)], reduce_concat=range(2, 6))",
    "SNAS_aggressive": "Genotype(normal=[('sep_conv_5x5', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('dil_conv_5x5', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_5x5', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 0), ('none', 1), ('sep_conv_5x5', 0), ('none', 1), ('none', 1), ('none', 0), ('none', 1), ('none', 0)], reduce_concat=range(2, 6))",
    "SNAS_aggressive_edge_all": "Genotype(normal=[('sep_conv_5x5', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('none', 2), ('dil_conv_5x5', 1), ('skip_connect', 0), ('none', 2), ('none', 3), ('skip_connect', 0), ('dil_conv_5x5', 1), ('none', 2), ('none', 3), ('none', 4)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 0), ('none', 1), ('sep_conv_5x5', 0), ('none', 1), ('none', 2), ('none', 0), ('none', 1), ('none', 2), ('none', 3), ('none', 0), ('none', 1), ('none', 2), ('none', 3), ('none', 4)], reduce_concat=range(2, 6))",
    "GDAS_V1": """Genotype(
  normal=[('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), ('sep_conv_5x5', 2), ('sep_conv_3x3', 3), ('skip_connect', 0), ('sep_conv_5x5', 4), ('sep_conv_3x3', 3)],
  normal_concat=range(2, 6),
  reduce=[('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 2), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_5x5', 2)],
  reduce_concat=range(2, 6)
)""",
    "PC_DARTS_cifar": "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))",
    "DrNAS_cifar10": "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_5x5', 3)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), ('sep_conv_5x5', 1), ('sep_conv_5x5', 1), ('dil_conv_5x5', 3), ('skip_connect', 4), ('sep_conv_5x5', 1)], reduce_concat=range(2, 6))",
    "DrNAS_imagenet": "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('dil_conv_3x3', 3), ('skip_connect', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1)], reduce_concat=range(2, 6))",
}


def published(name: str) -> DartsGenotype:
    """The parsed published cell ``name`` (a key of :data:`PUBLISHED`)."""
    try:
        return parse_genotype(PUBLISHED[name])
    except KeyError:
        raise KeyError(f"no published DARTS cell {name!r} (available: {', '.join(PUBLISHED)})") from None
