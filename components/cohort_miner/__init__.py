"""CohortMiner: mines contrasting cohorts and writes auxiliary label features."""
from components.cohort_miner.component import CohortMiner, CohortSpecArtifact

__all__ = ["CohortMiner", "CohortSpecArtifact"]
