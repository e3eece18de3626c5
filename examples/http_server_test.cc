// Drives examples/http_server as a separate process: with curl (keep-alive, HTTP/1.0) and
// with raw sockets (pipelining, split requests, bodies, errors, shutdown).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "examples/test_process.h"

using namespace netpoll::examples::testing;

namespace {

const std::string kServer = "examples/http_server";  // runfiles path
const std::string kCurl = "/usr/bin/curl";           // installed by tools/test

std::size_t count(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string_view::npos;
       at = hay.find(needle, at + needle.size()))
    ++n;
  return n;
}

bool lower_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// An RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") that is a real date, with the
// right weekday, near the current time (a generous bound: this checks which clock the server
// formats, UTC and not local time, not how fast anything ran). Empty if valid, else why not.
std::string check_imf_fixdate(const std::string& d) {
  // The shape, position by position: "Ddd, DD Mon YYYY HH:MM:SS GMT" (std::regex is avoided:
  // GCC 12 warns inside <regex> under the sanitizer configs, and warnings are errors).
  static constexpr std::string_view kShape = "xxx, 00 xxx 0000 00:00:00 GMT";  // x: a name
  auto one_of = [](std::string_view names, std::string_view w) {
    const std::size_t at = names.find(w);
    return w.size() == 3 && at != std::string_view::npos && at % 4 == 0;
  };
  bool shape =
      d.size() == kShape.size() &&
      one_of("Mon Tue Wed Thu Fri Sat Sun", std::string_view(d).substr(0, 3)) &&
      one_of("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", std::string_view(d).substr(8, 3));
  for (std::size_t i = 0; shape && i < kShape.size(); ++i) {
    if (kShape[i] == '0') shape = d[i] >= '0' && d[i] <= '9';
    else if (kShape[i] != 'x') shape = d[i] == kShape[i];
  }
  if (!shape) return "not IMF-fixdate: \"" + d + "\"";
  std::tm t{};
  if (!::strptime(d.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t)) return "unparsable: " + d;
  const std::time_t secs = ::timegm(&t);
  std::tm back{};
  ::gmtime_r(&secs, &back);
  char again[64];
  std::strftime(again, sizeof again, "%a, %d %b %Y %H:%M:%S GMT", &back);
  if (d != again) return "inconsistent date (weekday or day of month): " + d + " is " + again;
  const long long skew = static_cast<long long>(secs) - static_cast<long long>(std::time(nullptr));
  if (skew < -600 || skew > 600) return "not the current UTC time: " + d;
  return "";
}

std::vector<std::string> date_headers(const std::string& text) {
  constexpr std::string_view kName = "\r\nDate: ";
  std::vector<std::string> out;
  for (std::size_t at = text.find(kName); at != std::string::npos; at = text.find(kName, at + 1)) {
    const std::size_t from = at + kName.size();
    out.push_back(text.substr(from, text.find("\r\n", from) - from));
  }
  return out;
}

Captured curl(std::vector<std::string> args) {
  // No proxy from the environment may take the request elsewhere; --max-time bounds a hang.
  std::vector<std::string> argv{kCurl,        "--silent", "--show-error", "--noproxy", "*",
                                "--max-time", "30"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_capture(argv);
}

bool reused_connection(const std::string& curl_verbose) {
  // curl 7 says "Re-using existing connection", curl 8 "Reusing existing connection".
  return curl_verbose.find("Re-using existing connection") != std::string::npos ||
         curl_verbose.find("Reusing existing connection") != std::string::npos;
}

struct HttpResponse {
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (lower_equal(k, name)) return v;
    return "";
  }
};

// Reads consecutive responses from one connection; bytes past a response stay buffered for
// the next, so responses that arrive together are told apart only by their framing.
class ResponseReader {
 public:
  explicit ResponseReader(int fd) : fd_(fd) {}

  // One response; a response to HEAD has no body whatever its Content-Length says.
  HttpResponse next(bool head_request = false) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) fill("a response head");
    std::string_view head(buf_.data(), end + 2);
    HttpResponse r;
    std::size_t eol = head.find("\r\n");
    r.status_line = std::string(head.substr(0, eol));
    for (std::size_t at = eol + 2; at < head.size(); at = eol + 2) {
      eol = head.find("\r\n", at);
      const std::string_view line = head.substr(at, eol - at);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos)
        throw std::runtime_error("malformed header line: " + std::string(line));
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      r.headers.emplace_back(line.substr(0, colon), v);
    }
    buf_.erase(0, end + 4);
    const std::string cl = r.header("Content-Length");
    const std::size_t len = head_request || cl.empty() ? 0 : std::stoul(cl);
    while (buf_.size() < len) fill("a response body");
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }
  // Whether the server closes the connection next, with nothing more sent.
  bool eof_next() {
    if (!buf_.empty()) return false;
    bool eof = false;
    return recv_to_eof(fd_, &eof).empty() && eof;
  }

 private:
  void fill(const char* what) {
    const long n = recv_once(fd_, buf_);
    if (n == 0)
      throw std::runtime_error(std::string("EOF while reading ") + what + " (have \"" + buf_ +
                               "\")");
    if (n < 0)
      throw std::runtime_error(std::string("recv while reading ") + what + ": " +
                               std::strerror(errno));
  }
  int fd_;
  std::string buf_;
};

void check_hello(const HttpResponse& r, bool head_request = false) {
  CHECK(r.status_line == "HTTP/1.1 200 OK");
  CHECK(r.header("Server") == "netpoll");
  CHECK(r.header("Content-Type") == "text/plain");
  CHECK(r.header("Content-Length") == "13");
  CHECK(check_imf_fixdate(r.header("Date")) == "");
  CHECK(r.body == (head_request ? "" : "Hello, World!"));
}

void stop_cleanly(ServerProcess& srv) {
  const int status = srv.stop(SIGTERM);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
  CHECK(srv.rest_of_stdout().empty());  // exactly one line on stdout
}

}  // namespace

TEST_CASE("http_server: curl sends two requests on one keep-alive connection") {
  ServerProcess srv = ServerProcess::start(kServer);
  const std::string base = "http://" + srv.addr();
  const Captured c =
      curl({"-i", "-v", "-w", "\\nconnects=%{num_connects}\\n", base + "/", base + "/x"});
  REQUIRE_MESSAGE(exited_zero(c.status), "curl ", describe_status(c.status), "\n", c.err);
  CHECK(c.out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(count(c.out, "HTTP/1.1 200 OK\r\n") == 2);
  CHECK(count(c.out, "\r\nServer: netpoll\r\n") == 2);
  CHECK(count(c.out, "\r\nContent-Type: text/plain\r\n") == 2);
  CHECK(count(c.out, "\r\nContent-Length: 13\r\n") == 2);
  CHECK(count(c.out, "\r\n\r\nHello, World!\nconnects=") == 2);
  CHECK(c.out.find("Connection:") == std::string::npos);  // HTTP/1.1 persists by default
  const std::vector<std::string> dates = date_headers(c.out);
  CHECK(dates.size() == 2);
  for (const std::string& d : dates) CHECK(check_imf_fixdate(d) == "");
  // The second transfer made no new connection.
  const std::size_t first = c.out.find("connects=1\n");
  CHECK(first != std::string::npos);
  CHECK(c.out.find("connects=0\n", first) != std::string::npos);
  CHECK_MESSAGE(reused_connection(c.err), c.err);
  stop_cleanly(srv);
}

TEST_CASE(
    "http_server: curl --http1.0 gets its answer and a closed connection, or keep-alive on "
    "request") {
  ServerProcess srv = ServerProcess::start(kServer);
  const std::string base = "http://" + srv.addr();

  const Captured c = curl({"--http1.0", "-i", "-v", base + "/"});
  REQUIRE_MESSAGE(exited_zero(c.status), "curl ", describe_status(c.status), "\n", c.err);
  CHECK(c.err.find("> GET / HTTP/1.0") != std::string::npos);
  CHECK(c.out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(count(c.out, "\r\nConnection: close\r\n") == 1);
  CHECK(count(c.out, "\r\nContent-Length: 13\r\n") == 1);
  CHECK(c.out.size() >= 13);
  CHECK(c.out.substr(c.out.size() - 17) == "\r\n\r\nHello, World!");
  const std::vector<std::string> dates = date_headers(c.out);
  REQUIRE(dates.size() == 1);
  CHECK(check_imf_fixdate(dates[0]) == "");

  const Captured k = curl({"--http1.0", "-H", "Connection: keep-alive", "-i", "-v", "-w",
                           "\\nconnects=%{num_connects}\\n", base + "/a", base + "/b"});
  REQUIRE_MESSAGE(exited_zero(k.status), "curl ", describe_status(k.status), "\n", k.err);
  CHECK(count(k.out, "HTTP/1.1 200 OK\r\n") == 2);
  CHECK(count(k.out, "\r\nConnection: keep-alive\r\n") == 2);
  CHECK(count(k.out, "\r\n\r\nHello, World!\n") == 2);
  CHECK(k.out.find("connects=0\n") != std::string::npos);
  CHECK_MESSAGE(reused_connection(k.err), k.err);
  stop_cleanly(srv);
}

TEST_CASE("http_server: raw socket: pipelined requests answered in order, split requests, bodies") {
  ServerProcess srv = ServerProcess::start(kServer);
  Fd s = dial(srv.addr());
  REQUIRE(s.get() >= 0);
  ResponseReader rd(s.get());

  // Three requests in one write. The HEAD in the middle makes the order observable: its
  // response has no body, so a reordering would misframe the stream.
  REQUIRE(send_all(s.get(),
                   "GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                   "HEAD /2 HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /3 HTTP/1.1\r\nHost: t\r\n\r\n"));
  check_hello(rd.next());
  check_hello(rd.next(/*head_request=*/true), /*head_request=*/true);
  check_hello(rd.next());

  // One request sent a byte per write. The pause between bytes only makes it likely that the
  // server reads them separately; the outcome must not depend on how they are grouped.
  const std::string split = "GET /split HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n";
  for (char ch : split) {
    REQUIRE(send_all(s.get(), std::string_view(&ch, 1)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  check_hello(rd.next());

  // A body (skipped by Content-Length) that arrives in two pieces, the second together with
  // the next request.
  REQUIRE(send_all(s.get(), "POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello"));
  check_hello(rd.next());
  REQUIRE(send_all(s.get(),
                   " world"
                   "GET /after HTTP/1.1\r\nHost: t\r\n\r\n"));
  check_hello(rd.next());

  // The last request asks to close: answered with Connection: close, then EOF.
  REQUIRE(send_all(s.get(), "GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  const HttpResponse last = rd.next();
  check_hello(last);
  CHECK(last.header("Connection") == "close");
  CHECK(rd.eof_next());
  stop_cleanly(srv);
}

TEST_CASE("http_server: raw socket: oversized and malformed requests get an error and a close") {
  ServerProcess srv = ServerProcess::start(kServer);
  struct Case {
    const char* name;
    std::string request;
    std::string status;
  };
  const Case cases[] = {
      {"headers over 8 KiB",
       "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"not HTTP", "HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: t\r\n\r\n",
       "HTTP/1.1 505 HTTP Version Not Supported"},
      {"chunked body",
       "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       "HTTP/1.1 501 Not Implemented"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Fd s = dial(srv.addr());
    REQUIRE(s.get() >= 0);
    ResponseReader rd(s.get());
    // A valid request first: the error closes only after the answers before it.
    REQUIRE(send_all(s.get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n" + c.request));
    check_hello(rd.next());
    const HttpResponse r = rd.next();
    CHECK(r.status_line == c.status);
    CHECK(r.header("Connection") == "close");
    CHECK(r.header("Content-Length") == "0");
    CHECK(check_imf_fixdate(r.header("Date")) == "");
    CHECK(rd.eof_next());
  }
  stop_cleanly(srv);
}

TEST_CASE("http_server: SIGTERM closes idle and half-received connections and exits 0") {
  ServerProcess srv = ServerProcess::start(kServer);
  Fd idle = dial(srv.addr());
  REQUIRE(idle.get() >= 0);
  ResponseReader rd(idle.get());
  REQUIRE(send_all(idle.get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  check_hello(rd.next());  // served: now idle in keep-alive
  Fd partial = dial(srv.addr());
  REQUIRE(partial.get() >= 0);
  REQUIRE(send_all(partial.get(), "GET /never-finished HTTP/1.1\r\nHost: t\r\n"));
  // Make sure the server has accepted both before the signal: one more round trip on a
  // third connection is served only after the earlier ones were accepted (accepts are FIFO).
  {
    Fd probe = dial(srv.addr());
    REQUIRE(probe.get() >= 0);
    ResponseReader prd(probe.get());
    REQUIRE(send_all(probe.get(), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    check_hello(prd.next());
    CHECK(prd.eof_next());
  }
  const int status = srv.stop(SIGTERM);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
  CHECK(srv.stderr_text().find("closing 2 connection(s)") != std::string::npos);
  CHECK(rd.eof_next());
  bool eof = false;
  CHECK(recv_to_eof(partial.get(), &eof).empty());
  CHECK(eof);
}

TEST_CASE("http_server --loops 3: keep-alive connections served by several Loops, SIGTERM closes them all") {
  ServerProcess srv = ServerProcess::start(kServer, {"--loops", "3"});
  constexpr int kConns = 24;
  std::vector<Fd> conns;
  std::vector<ResponseReader> readers;
  conns.reserve(kConns);
  readers.reserve(kConns);
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(dial(srv.addr()));
    REQUIRE(conns.back().get() >= 0);
    readers.emplace_back(conns.back().get());
  }
  // Two rounds of one request per connection, every connection kept open in between (idle on
  // whichever Loop accepted it), then a pipelined pair on each.
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < kConns; ++i) {
      REQUIRE(send_all(conns[i].get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
      check_hello(readers[i].next());
    }
  for (int i = 0; i < kConns; ++i) {
    REQUIRE(send_all(conns[i].get(), "GET /a HTTP/1.1\r\nHost: t\r\n\r\nHEAD /b HTTP/1.1\r\nHost: t\r\n\r\n"));
    check_hello(readers[i].next());
    check_hello(readers[i].next(/*head_request=*/true), /*head_request=*/true);
  }
  const int status = srv.stop(SIGTERM);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
  CHECK(srv.stderr_text().find("closing the connections of 3 loops") != std::string::npos);
  for (int i = 0; i < kConns; ++i) CHECK(readers[i].eof_next());
}

TEST_CASE("http_server: a bad --loops is a usage error") {
  for (const char* bad : {"0", "x", "-2", "5000"}) {
    CAPTURE(bad);
    Captured c = run_capture({kServer, "--loops", bad});
    CHECK(WIFEXITED(c.status));
    CHECK(WEXITSTATUS(c.status) == 2);
  }
}
