"""Deck options between the web app and Anki itself: options changed over the API show
the same values in Anki after a sync, and a preset edited in Anki (with keys this
server does not know) keeps working here and keeps those keys."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.sync.test_full_sync import device, full_sync

pytestmark = [pytest.mark.interop, pytest.mark.integration]


def test_options_travel_both_ways_with_anki(server: AppServer, tmp_path: Path) -> None:
    headers = signed_up(server, "options-learner")
    a = device(tmp_path, "a")
    # A preset made in Anki, on a deck, with a key from a future Anki version.
    preset_id = a.decks.add_config_returning_id("From Anki")
    preset = a.decks.get_config(preset_id)
    preset["new"]["perDay"] = 33
    preset["rev"]["maxIvl"] = 500
    preset["lapse"]["leechAction"] = 0
    preset["desiredRetention"] = 0.87
    preset["futureOption"] = {"kept": True}
    a.decks.update_config(preset)
    deck_id = a.decks.id("Spanish")
    deck = a.decks.get(deck_id)
    deck["conf"] = preset_id
    a.decks.save(deck)
    full_sync(a, server, upload=True, user="options-learner")

    seen = httpx.get(
        f"{server.url}/api/decks/{deck_id}/options", headers=headers, timeout=30
    ).json()
    assert (seen["presetId"], seen["name"], seen["newPerDay"], seen["maximumInterval"]) == (
        preset_id, "From Anki", 33, 500,
    )  # fmt: skip
    assert (seen["leechAction"], seen["desiredRetention"]) == ("suspend", 0.87)

    changed = httpx.put(
        f"{server.url}/api/decks/{deck_id}/options",
        json={
            "reviewsPerDay": 150,
            "learningSteps": [2, 15],
            "startingEase": 2.3,
            "easyDays": [1, 1, 1, 1, 1, 0.5, 0],
        },
        headers=headers,
        timeout=30,
    )
    assert changed.status_code == 200, changed.text

    auth = a.sync_login("options-learner", PASSWORD, server.url + "/")
    a.sync_collection(auth, sync_media=False)
    in_anki = a.decks.get_config(preset_id)
    assert in_anki["rev"]["perDay"] == 150
    assert in_anki["new"]["delays"] == [2.0, 15.0]
    assert in_anki["new"]["initialFactor"] == 2300
    assert in_anki["easyDaysPercentages"] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    assert (in_anki["new"]["perDay"], in_anki["rev"]["maxIvl"]) == (33, 500)  # untouched
    assert in_anki["futureOption"] == {"kept": True}
    # A second device, fresh from the server, reads the same preset.
    b = device(tmp_path, "b")
    full_sync(b, server, upload=False, user="options-learner")
    assert b.decks.get_config(preset_id) == in_anki | {"usn": b.decks.get_config(preset_id)["usn"]}
    a.close()
    b.close()
