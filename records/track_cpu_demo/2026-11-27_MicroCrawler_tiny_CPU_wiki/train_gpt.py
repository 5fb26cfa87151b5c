"""The script the challenge runs: `torchrun --standalone --nproc_per_node=8 train_gpt.py`.

Configuration comes from the challenge's environment variables (SEED, DATA_PATH, TOKENIZER_PATH,
CRAWLER_LOOPS, ...) over the `leg3` preset, or from the same flags as `pgolf train`.
"""
from crawler.train_cli import main

if __name__ == "__main__":
    main()
