"""The training machinery the train and pretrain stages and the benchmark share: the Trainer set-up,
batching, dropout, checkpoints, curves, measures, and the runs themselves (finetune, pretraining)."""
