"""Reading and writing a user's files: regular files only, outputs all or nothing and never over
an input, a pipe or a device. Special files are made as FIFOs in a temporary folder (tests run as
root: a real device node must never be a target)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from symbackprop.core import files
from symbackprop.core.files import (
    FileError,
    read_regular_file,
    refuse_output,
    same_file,
    special_kind,
    write_files,
)


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def call_with_hang_guard(function, *args, timeout: float = 30):
    """function(*args) in a thread; fails the test if it blocks (a FIFO opened for reading)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{function.__name__} blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_regular_file_is_read_up_to_one_byte_over_the_limit(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(path, 1000) == b"x" * 100
    assert read_regular_file(path, 10) == b"x" * 11


def test_a_fifo_with_no_writer_is_refused_without_blocking(fifo):
    with pytest.raises(FileError, match=r"pipe: the file is a named pipe \(FIFO\), not a regular"):
        call_with_hang_guard(read_regular_file, fifo, 100)


def test_a_symbolic_link_to_a_fifo_is_refused_too(tmp_path, fifo):
    link = tmp_path / "link.tex"
    link.symlink_to(fifo)
    with pytest.raises(FileError, match="named pipe"):
        call_with_hang_guard(read_regular_file, link, 100)


def test_a_folder_is_refused_as_an_input(tmp_path):
    with pytest.raises(FileError, match="is a folder, not a regular file") as info:
        read_regular_file(tmp_path, 100)
    assert info.value.reason == "the file is a folder, not a regular file"


def test_a_missing_input_raises_the_os_error_its_reader_words(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "missing", 100)


def test_a_pipe_swapped_in_after_the_stat_is_opened_without_blocking_and_refused(
        tmp_path, monkeypatch):
    # The race: a regular file at stat time, a FIFO at open time.
    regular = tmp_path / "a.txt"
    regular.write_text("x")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    real_stat = os.stat
    monkeypatch.setattr(files.os, "stat", lambda p, *a, **k: real_stat(regular))
    with pytest.raises(FileError, match="named pipe"):
        call_with_hang_guard(read_regular_file, pipe, 100)


def test_an_output_over_a_fifo_is_refused_and_the_fifo_stays(fifo):
    with pytest.raises(FileError, match=r"is a named pipe \(FIFO\); an output is written only"):
        write_files({fifo: "text"})
    assert os.path.exists(fifo) and not os.path.isfile(fifo)
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["pipe"]


def test_an_output_that_is_an_input_is_refused_through_a_hard_or_symbolic_link(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("precious")
    hard = tmp_path / "hard.toml"
    os.link(spec, hard)
    soft = tmp_path / "soft.toml"
    soft.symlink_to(spec)
    for target in (spec, hard, soft):
        with pytest.raises(FileError, match="is the spec file itself"):
            write_files({target: "report"}, {"spec file": spec})
    assert spec.read_text() == "precious"
    assert same_file(hard, spec) and not same_file(tmp_path / "new", spec)


def test_a_new_name_and_a_regular_file_are_accepted_as_outputs(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text("before")
    refuse_output(old, {"spec file": tmp_path / "s.toml"})
    refuse_output(tmp_path / "new.txt")
    write_files({old: "after", tmp_path / "sub" / "new.txt": b"\x00bytes"})
    assert old.read_text() == "after"
    assert (tmp_path / "sub" / "new.txt").read_bytes() == b"\x00bytes"


def test_an_output_through_a_symbolic_link_writes_the_file_it_names_and_keeps_the_link(tmp_path):
    # -o /dev/stdout is such a link: the link itself must never be replaced.
    real = tmp_path / "real.txt"
    real.write_text("before")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    written = write_files({link: "after"})
    assert link.is_symlink() and real.read_text() == "after"
    assert written == [real]


def test_a_folder_in_the_way_of_one_file_writes_none_of_them(tmp_path):
    (tmp_path / "b.txt").mkdir()
    with pytest.raises(FileError, match="is a directory; give a file name"):
        write_files({tmp_path / "a.txt": "a", tmp_path / "b.txt": "b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]


def test_a_failure_while_writing_leaves_no_file_behind(tmp_path, monkeypatch):
    def full(*_args):
        raise OSError(28, "No space left on device")

    writes = iter([None, full])
    real_fresh = files._fresh
    monkeypatch.setattr(files, "_fresh",
                        lambda target, data: (next(writes) or real_fresh)(target, data))
    with pytest.raises(OSError, match="No space"):
        write_files({tmp_path / "a.txt": "a", tmp_path / "b.txt": "b"})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_puts_back_what_the_earlier_ones_replaced(tmp_path, monkeypatch):
    first, second, third = (tmp_path / n for n in ("1.txt", "2.txt", "3.txt"))
    first.write_text("old one")
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # the third rename fails
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(OSError, match="Input/output"):
        write_files({first: "new one", second: "new two", third: "new three"})
    assert first.read_text() == "old one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.txt"]


@pytest.mark.parametrize(("mode", "kind"), [
    (stat.S_IFCHR, "a character device"), (stat.S_IFBLK, "a block device"),
    (stat.S_IFSOCK, "a socket"), (stat.S_IFIFO, "a named pipe (FIFO)"),
    (stat.S_IFREG, None), (stat.S_IFDIR, None)])
def test_every_kind_of_special_file_is_named_and_regular_files_and_folders_are_not(mode, kind):
    assert special_kind(mode | 0o644) == kind


def test_an_output_that_stats_as_a_device_is_refused_and_left_alone(tmp_path, monkeypatch):
    # A device without making one (tests run as root; a real node must never be a target):
    # a regular file that os.stat reports as a character device, as /dev/null would be.
    null = tmp_path / "null"
    null.write_text("stand-in")
    real_stat = os.stat

    def device_stat(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)
        if os.fspath(path) == os.fspath(null):
            return os.stat_result((stat.S_IFCHR | 0o666, *tuple(result)[1:]))
        return result

    monkeypatch.setattr(files.os, "stat", device_stat)
    with pytest.raises(FileError, match="null is a character device; an output is written only"):
        write_files({null: "report"})
    monkeypatch.undo()
    assert null.read_text() == "stand-in"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]
