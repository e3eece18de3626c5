#include "benchmarks/http_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "benchmarks/harness.h"

namespace netpoll::bench {

namespace {

constexpr std::size_t kBodyLen = 13;  // "Hello, World!"

// A blocking client socket (closed by the destructor); fd < 0 if the connect failed.
struct Sock {
  int fd = -1;
  explicit Sock(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    timeval tv{10, 0};  // a server that stops answering fails the probe instead of hanging it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
};

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `want` bytes are buffered (0: until end of stream). False on an error, a
// timeout, or (want > 0) an early end of stream.
bool recv_until(int fd, std::size_t want, std::string& out) {
  char buf[16384];
  while (want == 0 || out.size() < want) {
    const ssize_t n = ::recv(fd, buf, want ? std::min(sizeof buf, want - out.size()) : sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return want == 0;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Replaces every Date value (the only field that changes between servers and runs) with '#'.
std::string mask_dates(std::string s) {
  for (std::size_t p = 0; (p = s.find("\r\nDate: ", p)) != std::string::npos;) {
    p += 8;
    for (std::size_t i = p; i < s.size() && s[i] != '\r'; ++i) s[i] = '#';
  }
  return s;
}

}  // namespace

std::string probe(int port, std::string* error) {
  auto bad = [&](const std::string& what) {
    *error = "probe: " + what;
    return std::string();
  };
  std::string transcript, r;
  {
    Sock c(port);
    if (c.fd < 0) return bad(errno_text("connect"));
    // 1. One request; its response fixes the length `len` of every 200 response.
    if (!send_all(c.fd, "GET / HTTP/1.1\r\nHost: b3\r\n\r\n")) return bad(errno_text("send"));
    while (r.find("\r\n\r\n") == std::string::npos)
      if (!recv_until(c.fd, r.size() + 1, r)) return bad("no complete response head to a GET: " + r);
    const std::size_t head = r.find("\r\n\r\n");
    if (r.rfind("HTTP/1.1 200 OK\r\n", 0) != 0 || r.find("\r\nContent-Length: 13\r\n") == std::string::npos)
      return bad("unexpected response: " + r);
    const std::size_t len = head + 4 + kBodyLen;
    if (!recv_until(c.fd, len, r) || r.substr(head + 4) != "Hello, World!") return bad("unexpected body: " + r);
    const std::string one = mask_dates(r);
    transcript += one;
    // 2. 100 requests pipelined in one send: 100 responses identical to the first.
    std::string pipeline;
    for (int i = 0; i < 100; ++i) pipeline += "GET /p HTTP/1.1\r\nHost: b3\r\n\r\n";
    r.clear();
    if (!send_all(c.fd, pipeline) || !recv_until(c.fd, 100 * len, r))
      return bad(std::to_string(r.size()) + " of " + std::to_string(100 * len) +
                 " bytes answered to 100 pipelined requests");
    const std::string masked = mask_dates(r);
    for (int i = 0; i < 100; ++i)
      if (masked.compare(std::size_t(i) * len, len, one) != 0)
        return bad("pipelined response " + std::to_string(i) + " differs from the first");
    // 3. Connection: close: the response, then end of stream.
    r.clear();
    if (!send_all(c.fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") || !recv_until(c.fd, 0, r) ||
        r.find("\r\nConnection: close\r\n") == std::string::npos || !r.ends_with("Hello, World!"))
      return bad("Connection: close answered \"" + r + "\"");
    transcript += mask_dates(r);
  }
  // 4. HTTP/1.0 without keep-alive: answered, then closed.
  // 5. A malformed request with more input behind it: 400, then a lingering close (the server
  //    half-closes and drains instead of resetting, so the 400 arrives intact before the EOF).
  for (std::string_view req : {std::string_view("GET / HTTP/1.0\r\n\r\n"),
                               std::string_view("BROKEN\r\n\r\nGET / HTTP/1.1\r\n\r\n")}) {
    Sock c(port);
    r.clear();
    if (c.fd < 0 || !send_all(c.fd, req) || !recv_until(c.fd, 0, r) || r.empty())
      return bad("no response, or no clean end of stream, to " + std::string(req.substr(0, 14)) + ": " +
                 std::strerror(errno));
    transcript += mask_dates(r);
  }
  if (transcript.find("HTTP/1.1 400 Bad Request\r\n") == std::string::npos)
    return bad("a malformed request was not answered 400: " + transcript);
  return transcript;
}

std::string transcript_difference(const std::string& a, const std::string& b) {
  if (a == b) return {};
  const auto at = static_cast<std::size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
  return "at byte " + std::to_string(at) + ": \"" + a.substr(at, 40) + "\" vs \"" + b.substr(at, 40) + "\"";
}

}  // namespace netpoll::bench
