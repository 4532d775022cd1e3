"""automl-nas evaluator that retrains a genotype's standalone network from scratch."""
