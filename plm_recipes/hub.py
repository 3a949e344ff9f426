"""Pushing a saved model folder to the Hugging Face Hub, after the run has saved it locally.

Every recipe's ``--push_to_hub`` and the ``plm-recipes push`` command go through :func:`push_folder`:
``huggingface_hub``'s ``create_repo`` then ``upload_folder``. A push that fails (no network, ``HF_HUB_OFFLINE=1``,
no token, a refused repo id) is one :class:`HubPushError` line naming the command that pushes the saved folder
later. Before it pushes, ``plm-recipes push`` names the repo in the folder's model card where the card names the
folder (:func:`retarget_card`), as transformers' ``Trainer.push_to_hub`` writes the card for its repo.

    plm-recipes push --model outputs/text_classification --repo_id user/tnews-bert [--private]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from .errors import PlmRecipesError

# What a push leaves out of the output folder, as transformers' Trainer does (checkpoints and ``_*`` files), plus
# this package's lock file.
IGNORE_PATTERNS = ["_*", "checkpoint-*", ".plm-recipes.lock"]

# The errors of a push that did not reach the Hub or was refused by it: OSError (offline mode, a refused request:
# HfHubHTTPError is one), ValueError (an invalid repo id) and the HTTP client's own errors (a refused connection),
# which huggingface_hub's HTTP error derives from.
_PUSH_ERRORS = (OSError, ValueError, *HfHubHTTPError.__bases__)


class HubPushError(PlmRecipesError):
    """A push to the Hub that failed; the model is saved locally, and the message says how to push it later."""

    exit_code = 3


def push_command(folder: str | os.PathLike, repo_id: str, private: bool | None = None) -> str:
    """The ``plm-recipes push`` command line that pushes ``folder`` to ``repo_id``."""
    words = ["plm-recipes", "push", "--model", os.fspath(folder), "--repo_id", repo_id]
    return shlex.join(words + (["--private"] if private else []))


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload model trained with plm-recipes",
) -> str:
    """Create ``repo_id`` on the Hub (when it does not exist) and upload ``folder`` into it, except
    :data:`IGNORE_PATTERNS`; returns the URL of the commit.

    Raises:
        HubPushError: the push failed (offline, unreachable Hub, no token, refused); one line with the reason and
            the command that pushes ``folder`` later.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise HubPushError(f"nothing to push: {folder} is not a folder")
    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo.repo_id, folder_path=folder, commit_message=commit_message,
                                   revision=revision, ignore_patterns=IGNORE_PATTERNS)
    except _PUSH_ERRORS as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise HubPushError(f"push of {folder} to the Hub repo {repo_id} failed ({reason}); the model is saved in "
                           f"{folder}: push it later with `{push_command(folder, repo_id, private)}`") from e
    return commit.commit_url


def retarget_card(folder: str | os.PathLike, repo_id: str) -> bool:
    """Make the model card ``folder/README.md`` name ``repo_id`` where it names the model by the folder it was
    written for (a run without ``--push_to_hub`` titles its card with its output folder and loads that folder in
    its usage snippet); returns whether the card changed.

    The name is the card's title (its first ``# `` heading); each whole occurrence of it (the title, the
    model-index name, ``"folder"`` in the snippet, ``--model folder``) becomes ``repo_id``.
    """
    path = os.path.join(folder, "README.md")
    try:
        with open(path, encoding="utf-8") as f:
            card = f.read()
    except FileNotFoundError:
        return False
    title = re.search(r"^# (.+)$", card.split("\n---\n", 1)[-1], re.M)
    if title is None or title[1].strip() == repo_id:
        return False
    name = re.escape(title[1].strip())
    retargeted = re.sub(rf"(?<![\w./-]){name}(?![\w./-])", lambda _: repo_id, card)
    if retargeted == card:
        return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(retargeted)
    return True


def add_push_command(commands: argparse._SubParsersAction) -> None:
    """``plm-recipes push``: push a saved model folder (a recipe's output_dir) to the Hub."""
    parser = commands.add_parser(
        "push", help="Push a saved model folder to the Hugging Face Hub.",
        description="Upload a saved model folder (a recipe's --output_dir) to a Hub repo, creating the repo when it "
        "does not exist. Checkpoints are left out; the model card is first made to name the repo where it names the "
        "folder. Log in first (`hf auth login`, or set HF_TOKEN).",
    )
    parser.add_argument("--model", required=True, help="The saved model folder.")
    parser.add_argument("--repo_id", required=True, help="The Hub repo, e.g. user/name.")
    parser.add_argument("--private", action="store_true", help="Create the repo private (no effect if it exists).")
    parser.add_argument("--commit_message", default="Upload model trained with plm-recipes")
    parser.add_argument("--revision", default=None, help="The branch to push to (default: main).")
    parser.set_defaults(func=_push)


def _push(args: argparse.Namespace) -> None:
    if os.path.isdir(args.model):
        retarget_card(args.model, args.repo_id)
    url = push_folder(args.model, args.repo_id, private=args.private or None, revision=args.revision,
                      commit_message=args.commit_message)
    print(url)
