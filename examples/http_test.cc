// The HTTP example's protocol code in process: Date formatting, head parsing, the Session's
// batching (pipelining, split requests, bodies, limits), and serve_conn on a real socket
// answering pipelined batches without a single heap allocation.
#include "examples/http.h"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include "examples/test_socket.h"
#include "netpoll/net/net.h"
#include "test/alloc_counter.h"

using namespace netpoll;
using namespace netpoll::examples::http;

namespace {

std::string date_of(std::time_t t) {
  char d[kDateLen];
  format_imf_fixdate(t, d);
  return std::string(d, kDateLen);
}

Parse parse(std::string_view head, Request* out = nullptr) {
  Request r;
  std::size_t scan = 0;
  REQUIRE(find_head_end(head, &scan) == head.size());  // the test gives exactly one head
  const Parse p = parse_head(head, r);
  if (out) *out = r;
  return p;
}

// Plays the part of serve_conn without sockets: each read() delivers bytes as one read(2)
// would, then runs process() and collects what would be written, as serve_conn does.
struct Driver {
  Responses responses;
  std::unique_ptr<Session> s = std::make_unique<Session>(responses);  // 48 KiB: not on the stack
  std::string out;
  int writes = 0;
  bool closed = false;

  void read(std::string_view data) {
    REQUIRE_FALSE(closed);
    const std::span<std::byte> space = s->read_space();
    REQUIRE(!space.empty());
    REQUIRE(data.size() <= space.size());
    std::memcpy(space.data(), data.data(), data.size());
    s->received(data.size());
    Session::Next next;
    do {
      next = s->process();
      const std::span<const std::byte> o = s->output();
      if (!o.empty()) {
        out.append(reinterpret_cast<const char*>(o.data()), o.size());
        ++writes;
        s->clear_output();
      }
    } while (next == Session::Next::write);
    closed = next == Session::Next::close;
  }
  // The text of a response (as of the last process(): the Date is refreshed only there).
  std::string resp(Responses::Kind k, bool body = true) const {
    std::string t(responses.get(k));
    if (!body) t.resize(t.size() - kBody.size());
    return t;
  }
  std::string times(Responses::Kind k, int n) const {
    std::string t;
    for (int i = 0; i < n; ++i) t += resp(k);
    return t;
  }
};

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";

}  // namespace

TEST_CASE("http: IMF-fixdate") {
  CHECK(date_of(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 7231's example
  CHECK(date_of(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(date_of(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(date_of(1709251199) == "Thu, 29 Feb 2024 23:59:59 GMT");
  CHECK(date_of(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST_CASE("http: preformatted responses, re-dated in place") {
  Responses r;
  r.set_time(784111777);
  CHECK(r.get(Responses::ok) ==
        "HTTP/1.1 200 OK\r\nServer: netpoll\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!");
  CHECK(r.get(Responses::ok_close) ==
        "HTTP/1.1 200 OK\r\nServer: netpoll\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!");
  CHECK(r.get(Responses::too_large) ==
        "HTTP/1.1 431 Request Header Fields Too Large\r\nServer: netpoll\r\n"
        "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  r.set_time(0);
  for (int k = 0; k < Responses::kKinds; ++k)
    CHECK(r.get(static_cast<Responses::Kind>(k))
              .find("\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n") != std::string_view::npos);
}

TEST_CASE("http: find_head_end, whole or byte by byte") {
  for (std::string_view head : {std::string_view("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                                std::string_view("GET / HTTP/1.1\nHost: a\n\n"),
                                std::string_view("GET / HTTP/1.1\r\n\r\n")}) {
    CAPTURE(head);
    const std::string in = std::string(head) + "GET /next HTTP/1.1\r\n\r\n";
    std::size_t scan = 0;
    CHECK(find_head_end(in, &scan) == head.size());
    scan = 0;
    std::size_t found = 0;
    for (std::size_t n = 1; n <= in.size() && !found; ++n) {
      found = find_head_end(std::string_view(in).substr(0, n), &scan);
      if (!found) CHECK(scan <= n);
    }
    CHECK(found == head.size());
  }
  std::size_t scan = 0;
  CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r", &scan) == 0);  // undecided yet
  const std::string big(kMaxHead + 100, 'a');
  scan = 0;
  CHECK(find_head_end(big, &scan) == 0);
  CHECK(scan == kMaxHead);  // never looks past the limit
}

TEST_CASE("http: parse_head") {
  Request r;
  REQUIRE(parse("GET /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r) == Parse::ok);
  CHECK(r.method == "GET");
  CHECK(r.target == "/x?y=1");
  CHECK(r.minor == 1);
  CHECK(r.keep_alive);
  CHECK(r.content_length == 0);

  SUBCASE("keep-alive rules") {
    REQUIRE(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r) == Parse::ok);
    CHECK_FALSE(r.keep_alive);
    REQUIRE(parse("GET / HTTP/1.1\r\nconnection:  Upgrade , CLOSE\r\n\r\n", &r) == Parse::ok);
    CHECK_FALSE(r.keep_alive);
    REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", &r) == Parse::ok);
    CHECK(r.minor == 0);
    CHECK_FALSE(r.keep_alive);
    REQUIRE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) == Parse::ok);
    CHECK(r.keep_alive);
  }
  SUBCASE("content length") {
    REQUIRE(parse("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n", &r) == Parse::ok);
    CHECK(r.content_length == 42);
    REQUIRE(parse("POST / HTTP/1.1\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n", &r) ==
            Parse::ok);
    CHECK(r.content_length == 7);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n") ==
          Parse::bad_request);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == Parse::bad_request);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n") == Parse::bad_request);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n") ==
          Parse::bad_request);
    CHECK(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == Parse::not_implemented);
  }
  SUBCASE("malformed") {
    CHECK(parse("GET / HTTP/2.0\r\n\r\n") == Parse::version_unsupported);
    CHECK(parse("GET / HTTP/1.1 \r\n\r\n") == Parse::bad_request);
    CHECK(parse("GET  / HTTP/1.1\r\n\r\n") == Parse::bad_request);             // empty target
    CHECK(parse("GET /\r\n\r\n") == Parse::bad_request);                       // HTTP/0.9
    CHECK(parse("G(T / HTTP/1.1\r\n\r\n") == Parse::bad_request);              // not a token
    CHECK(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == Parse::bad_request);  // space before ':'
    CHECK(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n") == Parse::bad_request);
    CHECK(parse("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n") == Parse::bad_request);
    CHECK(parse("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n") == Parse::bad_request);  // bare CR
  }
}

TEST_CASE("http: Session batches pipelined requests into one write, in order") {
  Driver d;
  d.read(std::string(kGet) + "HEAD /h HTTP/1.1\r\n\r\n" + std::string(kGet));
  CHECK(d.writes == 1);
  CHECK(d.out == d.resp(Responses::ok) + d.resp(Responses::ok, false) + d.resp(Responses::ok));
  CHECK_FALSE(d.closed);

  // Empty lines between requests are skipped (RFC 7230 3.5).
  d.out.clear();
  d.read(std::string(kGet) + "\r\n" + std::string(kGet));
  CHECK(d.out == d.times(Responses::ok, 2));
}

TEST_CASE("http: Session with a request split across reads, down to single bytes") {
  Driver d;
  const std::string req = "GET /split HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
  for (std::size_t i = 0; i + 1 < req.size(); ++i) {
    d.read(req.substr(i, 1));
    CHECK(d.out.empty());
  }
  d.read(req.substr(req.size() - 1));
  CHECK(d.out == d.resp(Responses::ok));
  // A head split in the middle of its terminator, with the next request behind it.
  d.out.clear();
  d.read("GET / HTTP/1.1\r\n\r");
  CHECK(d.out.empty());
  d.read("\n" + std::string(kGet));
  CHECK(d.out == d.times(Responses::ok, 2));
}

TEST_CASE("http: Session skips request bodies by Content-Length") {
  Driver d;
  d.read("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
  CHECK(d.out == d.resp(Responses::ok));  // answered before the body is complete
  d.out.clear();
  d.read("56789" + std::string(kGet));
  CHECK(d.out == d.resp(Responses::ok));
  // A body larger than the input buffer, in several reads.
  // (Each read's output is checked on its own: the Date may change between reads.)
  d.out.clear();
  d.read("PUT /big HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
  CHECK(d.out == d.resp(Responses::ok));
  d.out.clear();
  const std::string chunk(8000, 'x');
  for (std::size_t left = 100000; left > 0;) {
    const std::size_t n = std::min(left, chunk.size());
    d.read(std::string_view(chunk).substr(0, n));
    left -= n;
  }
  CHECK(d.out.empty());
  d.read(kGet);
  CHECK(d.out == d.resp(Responses::ok));
  CHECK_FALSE(d.closed);
}

TEST_CASE("http: Session closes after Connection: close, HTTP/1.0, or an error") {
  SUBCASE("Connection: close stops the pipeline; what follows is unread") {
    Driver d;
    d.read("GET / HTTP/1.1\r\nConnection: close\r\n\r\n" + std::string(kGet));
    CHECK(d.out == d.resp(Responses::ok_close));
    CHECK(d.closed);
    CHECK(d.s->unread_input());
  }
  SUBCASE("HTTP/1.0 without keep-alive") {
    Driver d;
    d.read("GET / HTTP/1.0\r\n\r\n");
    CHECK(d.out == d.resp(Responses::ok_close));
    CHECK(d.closed);
    CHECK_FALSE(d.s->unread_input());
  }
  SUBCASE("HTTP/1.0 with keep-alive") {
    Driver d;
    d.read(
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nConnection: "
        "keep-alive\r\n\r\n");
    CHECK(d.out == d.times(Responses::ok_keep_alive, 2));
    CHECK_FALSE(d.closed);
  }
  SUBCASE("garbage: 400, after the responses before it") {
    Driver d;
    d.read(std::string(kGet) + "HELLO\r\n\r\n" + std::string(kGet));
    CHECK(d.out == d.resp(Responses::ok) + d.resp(Responses::bad_request));
    CHECK(d.closed);
  }
  SUBCASE("chunked body: 501") {
    Driver d;
    d.read("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    CHECK(d.out == d.resp(Responses::not_implemented));
    CHECK(d.closed);
  }
}

TEST_CASE("http: Session bounds the head at kMaxHead bytes") {
  const std::string prefix = "GET / HTTP/1.1\r\nX-Pad: ";
  SUBCASE("a head of exactly kMaxHead bytes is served") {
    Driver d;
    const std::string head = prefix + std::string(kMaxHead - prefix.size() - 4, 'a') + "\r\n\r\n";
    REQUIRE(head.size() == kMaxHead);
    d.read(head);
    CHECK(d.out == d.resp(Responses::ok));
  }
  SUBCASE("one byte more in one read: 431") {
    Driver d;
    d.read(prefix + std::string(kMaxHead - prefix.size() - 3, 'a') + "\r\n\r\n");
    CHECK(d.out == d.resp(Responses::too_large));
    CHECK(d.closed);
  }
  SUBCASE("an unterminated head growing read by read: 431 once it reaches the limit") {
    Driver d;
    d.read(prefix);
    std::size_t sent = prefix.size();
    while (!d.closed) {
      // The buffer always has room while the head is under the limit.
      CHECK(d.s->read_space().size() > kInCap - kMaxHead);
      d.read(std::string(1000, 'a'));
      sent += 1000;
      REQUIRE(sent < kMaxHead + 1000);
    }
    CHECK(sent >= kMaxHead);
    CHECK(d.out == d.resp(Responses::too_large));
  }
}

TEST_CASE("http: a batch whose responses overflow the output buffer is written in pieces") {
  Driver d;
  constexpr std::string_view kTiny = "GET / HTTP/1.1\r\n\r\n";
  const int n = static_cast<int>(kInCap / kTiny.size());
  std::string batch;
  for (int i = 0; i < n; ++i) batch += kTiny;
  d.read(batch);
  CHECK(d.out == d.times(Responses::ok, n));
  CHECK(d.writes > 1);
  CHECK(static_cast<std::size_t>(d.writes) <=
        d.out.size() / (kOutCap / 2) + 1);  // full writes, not one per response
  CHECK_FALSE(d.closed);
}

namespace {
net::Task<void> accept_and_serve(net::Listener& ln, Server& server) {
  Result<net::Conn> c = co_await ln.Accept();
  if (!c) co_return;
  co_await serve_conn(*c, server);
}
}  // namespace

TEST_CASE("http: serve_conn answers pipelined batches with no heap allocation") {
  using namespace netpoll::examples::testing;
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  Server srv;
  const std::size_t resp_size = srv.responses().get(Responses::ok).size();  // the Date has a fixed length
  std::thread server([&] { loop.block_on(accept_and_serve(*ln, srv)); });

  Fd c = dial(ln->Addr().to_string());
  REQUIRE(c.get() >= 0);
  constexpr int kDepth = 16, kRounds = 300;
  std::string batch;
  for (int i = 0; i < kDepth; ++i)
    batch += "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n";
  const std::size_t want = kDepth * resp_size;
  std::vector<char> buf(want);
  // One round: the batch in one send, every response back. Only system calls, no allocation.
  auto round = [&]() -> bool {
    if (::send(c.get(), batch.data(), batch.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(batch.size()))
      return false;
    for (std::size_t got = 0; got < want;) {
      const ssize_t n = ::recv(c.get(), buf.data() + got, want - got, 0);
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return std::memcmp(buf.data(), "HTTP/1.1 200 OK\r\n", 17) == 0 &&
           std::memcmp(buf.data() + want - kBody.size(), kBody.data(), kBody.size()) == 0;
  };
  // Warm up: the connection's coroutine frames exist, the poller has seen the descriptor.
  for (int i = 0; i < 3; ++i) REQUIRE(round());
  int ok_rounds = 0;
  const std::uint64_t before = netpoll::testing::allocation_count();
  for (int i = 0; i < kRounds; ++i) ok_rounds += round() ? 1 : 0;
  const std::uint64_t after = netpoll::testing::allocation_count();
  c.reset();  // EOF: serve_conn returns and block_on with it
  server.join();
  CHECK(ok_rounds == kRounds);
  CHECK(after - before == 0);
}

namespace {
net::Task<void> serve_n(net::Loop& loop, net::Listener& ln, Server& server, int n) {
  for (int i = 0; i < n; ++i) {
    Result<net::Conn> c = co_await ln.Accept();
    if (!c) co_return;
    loop.spawn([](net::Conn c, Server& s) -> net::Task<void> { co_await serve_conn(c, s); }(std::move(*c), server));
  }
}
}  // namespace

TEST_CASE("http: idle keep-alive connections give their Session back: one serves them all in turn") {
  using namespace netpoll::examples::testing;
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  Server srv;
  constexpr int kConns = 8;
  std::thread server([&] {
    loop.spawn(serve_n(loop, *ln, srv, kConns));
    loop.run();
  });
  std::vector<Fd> conns;
  const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::size_t resp_size = srv.responses().get(Responses::ok).size();
  // One request at a time on each connection, round robin, every connection kept open: each
  // goes idle after its response, so a single Session is ever needed.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kConns; ++i) {
      if (round == 0) conns.push_back(dial(ln->Addr().to_string()));
      REQUIRE(conns[i].get() >= 0);
      REQUIRE(::send(conns[i].get(), req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
      std::string got(resp_size, '\0');
      for (std::size_t n = 0; n < resp_size;) {
        const ssize_t r = ::recv(conns[i].get(), got.data() + n, resp_size - n, 0);
        REQUIRE(r > 0);
        n += static_cast<std::size_t>(r);
      }
      CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    }
  }
  // Counted on the Loop's thread (the Server is its), before the connections close: at their
  // end every connection wakes at once, and on a completion backend (io_uring) each takes a
  // Session before its Read reports the end, so the count then says nothing about idle ones.
  std::promise<std::size_t> made;
  loop.post([&] { made.set_value(srv.sessions()); });
  CHECK(made.get_future().get() == 1);
  conns.clear();  // EOF on every connection: their coroutines end
  loop.post([&] { loop.stop(); });
  server.join();
  while (loop.spawned() > 0) loop.run_once(Timeout::after(std::chrono::milliseconds(10)));
}
