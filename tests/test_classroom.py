"""The classroom rules (resnet_viz.classroom) and `make classroom`'s launcher."""

from __future__ import annotations

import pytest

from resnet_viz import classroom
from resnet_viz.config import TrainConfig
from resnet_viz.store import RunStore


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_classroom_mode_from_the_environment(monkeypatch, value, on):
    monkeypatch.setenv(classroom.CLASSROOM_ENV, value)
    assert classroom.classroom_mode() is on


def test_the_token_is_the_environments_or_generated_once(monkeypatch, capsys):
    monkeypatch.setenv(classroom.TOKEN_ENV, "abc")
    assert classroom.is_presenter_token("abc")
    assert not classroom.is_presenter_token("abd") and not classroom.is_presenter_token(None)
    monkeypatch.delenv(classroom.TOKEN_ENV)
    monkeypatch.setattr(classroom, "_generated", None)
    token = classroom.presenter_token()
    assert len(token) >= 16 and classroom.presenter_token() == token
    assert token in capsys.readouterr().err  # in the server's log, for whoever started it
    assert not classroom.is_presenter_token("")


def test_a_viewer_may_start_one_run_and_only_once_everyone_may_train(runs_dir):
    store = RunStore(runs_dir)
    assert classroom.viewer_start_refusal(store, "10.0.0.5") == classroom.VIEWER_START
    classroom.let_everyone_train(store, True)
    assert classroom.viewer_start_refusal(store, "10.0.0.5") is None
    run_id = store.create_run(TrainConfig(name="mine"), owner="10.0.0.5")
    assert "You already have a run queued (mine)" in classroom.viewer_start_refusal(
        store, "10.0.0.5"
    )
    assert classroom.viewer_start_refusal(store, "10.0.0.6") is None  # another laptop
    run = store.get_run(run_id)
    assert classroom.viewer_may_steer(store, "10.0.0.5", run)
    assert not classroom.viewer_may_steer(store, "10.0.0.6", run)
    store.finish(run_id, "finished")
    assert classroom.viewer_start_refusal(store, "10.0.0.5") is None  # ended: may start again
    classroom.let_everyone_train(store, False)
    assert not classroom.viewer_may_steer(store, "10.0.0.5", run)


def test_make_classroom_prints_both_links_and_serves_on_every_interface(monkeypatch, capsys):
    monkeypatch.setenv(classroom.TOKEN_ENV, "tok")
    monkeypatch.setattr(classroom, "lan_address", lambda: "192.168.1.20")
    ran = {}
    monkeypatch.setattr(classroom.os, "execvpe", lambda f, cmd, env: ran.update(cmd=cmd, env=env))
    classroom.main(["--port", "8600"])
    out = capsys.readouterr().out
    assert "http://192.168.1.20:8600/?token=tok" in out
    assert "Students' link:                      http://192.168.1.20:8600/\n" in out
    assert ran["env"][classroom.CLASSROOM_ENV] == "1" and ran["env"][classroom.TOKEN_ENV] == "tok"
    assert ran["cmd"][-8:] == [
        "--server.address", "0.0.0.0", "--server.port", "8600",
        "--client.showErrorDetails", "none", "--server.headless", "true",
    ]  # fmt: skip


def test_make_classroom_generates_a_token_when_none_is_set(monkeypatch, capsys):
    monkeypatch.delenv(classroom.TOKEN_ENV, raising=False)
    ran = {}
    monkeypatch.setattr(classroom.os, "execvpe", lambda f, cmd, env: ran.update(env=env))
    classroom.main([])
    token = ran["env"][classroom.TOKEN_ENV]
    assert len(token) >= 16 and f"?token={token}" in capsys.readouterr().out
