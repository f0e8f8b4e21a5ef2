"""Messages in pieces: send_stream(), recv_stream(), stream_receive=True,
MESSAGE_PART events, MessageUnfinished."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from typing import Iterator, List, Tuple

import pytest

import wsclient
from wsclient import EventType
from conftest import run_program
from miniserver import MiniServer, Request, close_frame, frame, parse_close, read_frame, read_frame_fin

T = 10
MiB = 1 << 20
TEXT = "gr\u00fc\u00dfe \U0001f30d!"  # "grüße 🌍!": 2-byte and 4-byte code points
TEXT_UTF8 = TEXT.encode("utf-8")


def _recording_server() -> Tuple[MiniServer, List[Tuple[bool, int, bytes]], threading.Event]:
    """A server that records the client's frames (FIN, opcode, payload)
    until the close frame, which it answers; `done` is set then."""
    frames: List[Tuple[bool, int, bytes]] = []
    done = threading.Event()

    def handler(conn: socket.socket, _req: Request) -> None:
        try:
            while True:
                fin, op, payload = read_frame_fin(conn)
                frames.append((fin, op, payload))
                if op == 0x8:
                    conn.sendall(close_frame(parse_close(payload)[0] or 1000))
                    return
        finally:
            done.set()

    return MiniServer(handler), frames, done


# --- bulk -------------------------------------------------------------------------


def test_256_mib_each_way_in_64_kib_pieces_in_bounded_memory(frames_echo_url: str) -> None:
    """A thread sends 256 MiB from a generator with send_stream(), the main
    thread reads the echo with recv_stream() (stream_receive, no size
    limit); the process's RSS (sampled every 10 ms and after every piece)
    grows by less than 48 MiB and the SHA-256 of what came back matches."""
    p = run_program("prog_stream_bulk.py", frames_echo_url, "256", timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"256 MiB each way: {r['seconds']} s, RSS {r['rss_base'] / MiB:.1f} -> {r['rss_peak'] / MiB:.1f} MiB, "
          f"{r['pieces']} pieces (largest {r['biggest_piece']} bytes)", file=sys.stderr)
    assert r["sent"] == r["received"] == 256 * MiB
    assert r["received_sha256"] == r["sent_sha256"]
    assert r["last"] is True and r["text"] is False
    assert 0 < r["biggest_piece"] <= 64 * 1024
    assert r["rss_peak"] - r["rss_base"] < 48 * MiB, r


# --- sending ---------------------------------------------------------------------


def test_each_chunk_is_one_fragment_and_the_last_ends_the_message() -> None:
    srv, frames, done = _recording_server()
    with srv, wsclient.WebSocket(srv.url, timeout=T) as ws:
        ws.send_stream([b"ab", bytearray(b""), memoryview(b"cd")])
        ws.send_stream(["gr\u00fc", "\u00dfe ", "\U0001f30d!"], text=True)
        ws.send_stream(iter([b"one"]))
        ws.send_stream([])
        ws.send_stream((c for c in ()), text=True)
        ws.close()
        assert done.wait(T)
    assert frames[:-1] == [
        (False, 0x2, b"ab"), (False, 0x0, b""), (True, 0x0, b"cd"),
        (False, 0x1, "gr\u00fc".encode()), (False, 0x0, "\u00dfe ".encode()), (True, 0x0, "\U0001f30d!".encode()),
        (True, 0x2, b"one"),
        (True, 0x2, b""),  # an empty iterable: an empty message
        (True, 0x1, b""),
    ]
    assert frames[-1][1] == 0x8


def test_sent_in_pieces_received_whole(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        ws.send_stream(bytes([i]) * 1000 for i in range(200))
        assert ws.recv(T) == b"".join(bytes([i]) * 1000 for i in range(200))
        ws.send_stream(["gr\u00fc", "\u00dfe ", "\U0001f30d!"], text=True)
        assert ws.recv(T) == TEXT
        ws.send_stream([], text=True)
        assert ws.recv(T) == ""
        ws.send_stream([])
        assert ws.recv(T) == b""


def test_utf8_split_between_chunks_and_between_pieces(frames_echo_url: str) -> None:
    """Text as bytes chunks that split both multi-byte code points; read back
    (frame by frame through the --frames echo) in pieces of at most 5 bytes:
    every piece is a str on its own, together the text."""
    chunks = [TEXT_UTF8[:3], TEXT_UTF8[3:10], TEXT_UTF8[10:]]
    assert "\u00fc".encode()[0] == chunks[0][-1] and chunks[1][-1] == 0x9F  # splits inside ü and 🌍
    with wsclient.WebSocket(frames_echo_url, timeout=T, stream_receive=True) as ws:
        ws.send_stream(chunks, text=True)
        stream = ws.recv_stream(T, piece_size=5)
        assert stream.text is True
        pieces, offsets = [], []
        for piece in stream:
            assert isinstance(piece, str)
            assert len(piece.encode()) <= 5
            pieces.append(piece)
            offsets.append(stream.offset)
        assert "".join(pieces) == TEXT and stream.last and stream.received == len(TEXT_UTF8)
        assert offsets == [sum(len(p.encode()) for p in pieces[:i]) for i in range(len(pieces))]
        # str chunks and a mix with bytes chunks
        ws.send_stream(["gr", b"\xc3", b"\xbc\xc3\x9fe ", "\U0001f30d!"], text=True)
        assert "".join(ws.recv_stream(T, piece_size=4)) == TEXT


def test_invalid_utf8_before_the_first_piece_leaves_the_connection_usable(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        with pytest.raises(wsclient.InvalidArgument, match="not valid UTF-8"):
            ws.send_stream([b"\xff", b"more"], text=True)
        # a str chunk for a binary message, or something else entirely
        with pytest.raises(TypeError, match="text=True"):
            ws.send_stream(["text"])
        with pytest.raises(TypeError, match="int"):
            ws.send_stream([1, 2], text=True)

        def fails_at_once() -> Iterator[bytes]:
            raise KeyError("no data")
            yield b""  # pragma: no cover

        with pytest.raises(KeyError):
            ws.send_stream(fails_at_once())
        assert not ws.closed
        ws.send("still fine")
        assert ws.recv(T) == "still fine"


@pytest.mark.parametrize("how", ["iterable raises", "wrong chunk type", "invalid utf-8"])
def test_a_message_that_cannot_be_finished_closes_with_1011(how: str) -> None:
    """Two pieces are out when the third cannot be sent: the server would
    wait for the message's end forever, so the connection is closed with
    1011 and the exception propagates."""
    srv, frames, done = _recording_server()

    def chunks() -> Iterator[object]:
        yield "one"
        yield "two"
        if how == "iterable raises":
            raise RuntimeError("the source broke")
        yield 3 if how == "wrong chunk type" else b"\xff\xfe"
        yield "four"

    expected = {
        "iterable raises": RuntimeError,
        "wrong chunk type": TypeError,
        "invalid utf-8": wsclient.InvalidArgument,
    }
    with srv, wsclient.WebSocket(srv.url, timeout=T) as ws:
        with pytest.raises(expected[how]):
            ws.send_stream(chunks(), text=True)
        assert ws.closed
        with pytest.raises(wsclient.ConnectionClosed):
            ws.send("after")
        assert done.wait(T)
    # "one" went out when "two" was known; "two" waited for the third chunk
    assert frames[0] == (False, 0x1, b"one")
    if how == "invalid utf-8":
        assert frames[1] == (False, 0x0, b"two")
    assert frames[-1][1] == 0x8 and parse_close(frames[-1][2]) == (1011, "message abandoned by the sender")


def test_send_while_a_stream_is_unfinished_and_streams_take_turns(echo_url: str, deadline) -> None:
    """While another thread's send_stream() message is unfinished, send()
    raises MessageUnfinished (nothing is sent) and a second send_stream()
    waits for the first to finish."""
    reached, release = threading.Event(), threading.Event()

    def slow() -> Iterator[bytes]:
        yield b"first-"
        yield b"second-"
        reached.set()  # "first-" is out now, "second-" waits for this chunk
        release.wait(T)
        yield b"third"

    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        one = threading.Thread(target=ws.send_stream, args=(slow(),), daemon=True)
        one.start()
        assert reached.wait(T)
        with pytest.raises(wsclient.MessageUnfinished) as e:
            ws.send("interleaved")
        assert e.value.code == 31 and e.value.name == "WS_E_MESSAGE_UNFINISHED"
        assert isinstance(e.value, RuntimeError)
        two = threading.Thread(target=ws.send_stream, args=([b"other ", b"message"],), daemon=True)
        two.start()
        # wait until the second call is in send_stream(), at its lock
        d = deadline(T)
        while not d.expired():
            f = sys._current_frames().get(two.ident or 0)
            if f is not None and f.f_code.co_name == "send_stream":
                break
            time.sleep(0.001)
        assert not d.expired()
        release.set()
        one.join(T)
        two.join(T)
        assert not one.is_alive() and not two.is_alive()
        assert ws.recv(T) == b"first-second-third"
        assert ws.recv(T) == b"other message"


def test_send_stream_on_a_closed_socket(echo_url: str) -> None:
    ws = wsclient.WebSocket(echo_url, timeout=T)
    ws.close()
    with pytest.raises(wsclient.ConnectionClosed):
        ws.send_stream([b"x"])
    with pytest.raises(wsclient.ConnectionClosed):
        ws.recv_stream(0)


# --- receiving -----------------------------------------------------------------------


def test_pieces_of_a_whole_message_with_offsets(echo_url: str) -> None:
    message = bytes(range(256)) * 1172  # 300,032 bytes
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        ws.send(message)
        stream = ws.recv_stream(T, piece_size=1000)
        assert stream.text is False and "binary" in repr(stream)
        got = bytearray()
        for piece in stream:
            assert isinstance(piece, bytes)
            assert stream.offset == len(got)
            got += piece
            assert stream.last == (len(got) == len(message))
        assert got == message and stream.received == len(message)
        assert list(stream) == []  # over
        ws.send("")
        stream = ws.recv_stream(T)
        assert stream.text is True and list(stream) == [""] and stream.last


def test_recv_while_half_read_is_message_unfinished(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        ws.send(b"a" * 5000)
        ws.send("next")
        stream = ws.recv_stream(T, piece_size=1000)
        assert next(stream) == b"a" * 1000
        with pytest.raises(wsclient.MessageUnfinished, match="pieces"):
            ws.recv(0)
        # a new stream goes on with the rest of the message
        rest = ws.recv_stream(T, piece_size=3000)
        assert next(rest) == b"a" * 3000 and rest.offset == 1000
        with pytest.raises(wsclient.MessageUnfinished):
            ws.recv(T)
        assert list(rest) == [b"a" * 1000] and rest.last and rest.received == 5000
        assert ws.recv(T) == "next"


def test_a_text_message_read_ahead_whole_comes_in_whole_code_points(echo_url: str, deadline) -> None:
    """On an ordinary socket the library reads a message ahead while the
    program does not read; pieces of it in 5 bytes are still str each."""
    text = "\u00fc" * 1000 + "\U0001f30d" * 100
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        ws.send(text)
        d = deadline(T)
        while ws.info().messages_received < 1 and not d.expired():
            time.sleep(0.01)
        assert ws.info().messages_received == 1
        first = ws.recv_stream(T, piece_size=5)
        pieces = [next(first), next(first)]
        pieces += list(ws.recv_stream(T, piece_size=7))  # the rest in a second stream
        assert all(isinstance(p, str) for p in pieces)
        assert "".join(pieces) == text


def test_timeout_between_pieces_loses_nothing() -> None:
    """The server sends a first fragment and waits for the client's word
    before the rest: the iteration times out, then goes on."""
    said = threading.Event()

    def handler(conn: socket.socket, _req: Request) -> None:
        conn.sendall(frame(0x2, b"first", fin=False))
        assert read_frame(conn) == (0x1, b"go on")
        said.set()
        conn.sendall(frame(0x0, b" second", fin=False) + frame(0x0, b" third"))
        read_frame(conn)
        conn.sendall(close_frame(1000))

    with MiniServer(handler) as srv, wsclient.WebSocket(srv.url, timeout=T, stream_receive=True) as ws:
        stream = ws.recv_stream(0.2)
        assert next(stream) == b"first" and not stream.last
        with pytest.raises(wsclient.WebSocketTimeout):
            next(stream)
        ws.send("go on")
        assert said.wait(T)
        rest = b"".join(stream)
        assert rest == b" second third" and stream.last and stream.received == 18
        assert not srv.errors


def test_connection_lost_in_the_middle_of_a_message() -> None:
    def handler(conn: socket.socket, _req: Request) -> None:
        conn.sendall(frame(0x2, b"x" * 1000, fin=False))
        read_frame(conn)  # the client's word that it has the first piece
        conn.shutdown(socket.SHUT_RDWR)

    with MiniServer(handler) as srv, wsclient.WebSocket(srv.url, timeout=T, stream_receive=True) as ws:
        stream = ws.recv_stream(T)
        assert next(stream) == b"x" * 1000
        ws.send("got it")
        with pytest.raises(wsclient.ConnectionLost):
            next(stream)
        with pytest.raises(wsclient.ConnectionClosed):
            ws.recv_stream(T)


def test_server_close_ends_recv_stream_like_recv() -> None:
    def handler(conn: socket.socket, _req: Request) -> None:
        read_frame(conn)
        conn.sendall(frame(0x1, b"last words") + close_frame(4001, "bye"))
        read_frame(conn)

    with MiniServer(handler) as srv, wsclient.WebSocket(srv.url, timeout=T, stream_receive=True) as ws:
        ws.send("go")
        assert list(ws.recv_stream(T)) == ["last words"]
        with pytest.raises(wsclient.ConnectionClosed) as e:
            ws.recv_stream(T)
        assert type(e.value) is wsclient.ConnectionClosed
        assert (e.value.close_code, e.value.close_reason) == (4001, "bye")


def test_stream_receive_options(echo_url: str) -> None:
    # maxMessageSize 0 (no limit) only with stream_receive
    with pytest.raises(wsclient.InvalidArgument, match="streamReceive"):
        wsclient.WebSocket(echo_url, timeout=T, max_message_size=0)
    with wsclient.WebSocket(echo_url, timeout=T, stream_receive=True, max_message_size=0) as ws:
        ws.send("hello")
        with pytest.raises(wsclient.InvalidArgument, match="ws_read_part"):
            ws.recv(T)  # such sockets are read in pieces only
        assert list(ws.recv_stream(T)) == ["hello"]
    # maxMessageSize bounds the whole streamed message
    with wsclient.WebSocket(echo_url, timeout=T, stream_receive=True, max_message_size=1000) as ws:
        ws.send(b"y" * 5000)
        got = bytearray()
        with pytest.raises(wsclient.ProtocolError) as e:
            for piece in ws.recv_stream(T):
                got += piece
        assert e.value.code == 14 and len(got) <= 1000
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        with pytest.raises(wsclient.InvalidArgument, match="piece_size"):
            ws.recv_stream(T, piece_size=3)
        with pytest.raises(TypeError):
            ws.recv_stream(T, piece_size=4.5)  # type: ignore[arg-type]
        with pytest.raises(wsclient.WebSocketTimeout):
            ws.recv_stream(0)


# --- events ------------------------------------------------------------------------------


def test_message_part_events(frames_echo_url: str) -> None:
    with wsclient.EventQueue() as q:
        ws = q.connect(frames_echo_url, timeout=T, stream_receive=True, max_message_size=0)
        assert q.next_event(T).type == EventType.OPEN
        ws.send_stream([b"12", b"345", b""])
        ws.send_stream([TEXT_UTF8[:3], TEXT_UTF8[3:10], TEXT_UTF8[10:]], text=True)
        parts: List[wsclient.Event] = []
        for ev in q.events(T):
            assert ev.type == EventType.MESSAGE_PART and ev.socket == ws.socket, ev
            parts.append(ev)
            if ev.last and ev.is_text:
                break
        binary = [p for p in parts if not p.is_text]
        text = [p for p in parts if p.is_text]
        assert b"".join(p.data for p in binary) == b"12345"
        assert all(isinstance(p.data, bytes) and p.msg_type == 2 for p in binary)
        assert [p.last for p in binary][-1] and not any(p.last for p in binary[:-1])
        assert [p.offset for p in binary] == [sum(len(b.data) for b in binary[:i]) for i in range(len(binary))]
        assert all(isinstance(p.data, str) for p in text)  # each piece valid UTF-8 on its own
        assert "".join(p.data for p in text) == TEXT
        assert [p.offset for p in text] == [sum(len(t.data.encode()) for t in text[:i]) for i in range(len(text))]
        ws.close()
        assert q.next_event(T).type == EventType.CLOSE


def test_message_part_events_through_a_callback(frames_echo_url: str) -> None:
    got: List[wsclient.Event] = []
    done = threading.Event()

    def on_event(ev: wsclient.Event) -> None:
        if ev.type == EventType.MESSAGE_PART:
            got.append(ev)
            if ev.last:
                done.set()

    message = bytes(range(256)) * 4096  # 1 MiB: many pieces
    with wsclient.EventQueue() as q:
        q.set_callback(on_event)
        ws = q.connect(frames_echo_url, timeout=T, stream_receive=True)
        ws.send_stream(message[i : i + 65536] for i in range(0, len(message), 65536))
        assert done.wait(T)
        q.set_callback(None)
        ws.close()
    assert b"".join(ev.data for ev in got) == message
    assert [ev.offset for ev in got] == [sum(len(e.data) for e in got[:i]) for i in range(len(got))]
    assert [ev.last for ev in got].count(True) == 1
