"""The environment as crawler/config.py reads it: the challenge's names, torchrun's, and what a child inherits."""
from crawler.config import environment_without_challenge_names, load_config, torchrun_ranks


def test_embed_lr_is_ignored_as_the_reference_ignores_it_with_tied_embeddings():
    default = load_config("leg3", environ={}).tied_embed_lr
    assert load_config("leg3", environ={"EMBED_LR": "0.9"}).tied_embed_lr == default
    assert load_config("leg3", environ={"TIED_EMBED_LR": "0.02"}).tied_embed_lr == 0.02
    # whichever comes last in the environment, TIED_EMBED_LR is the one that counts
    for environ in ({"EMBED_LR": "0.9", "TIED_EMBED_LR": "0.02"}, {"TIED_EMBED_LR": "0.02", "EMBED_LR": "0.9"}):
        assert load_config("leg3", environ=environ).tied_embed_lr == 0.02


def test_torchrun_ranks():
    assert torchrun_ranks({}) == (0, 1, 0)
    assert torchrun_ranks({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}) == (5, 8, 1)


def test_a_child_environment_drops_the_challenge_names_the_ignored_ones_included():
    kept, dropped = environment_without_challenge_names({"SEED": "1", "EMBED_LR": "0.6", "PATH": "/bin"})
    assert kept == {"PATH": "/bin"} and dropped == ["EMBED_LR", "SEED"]
