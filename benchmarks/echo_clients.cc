#include "benchmarks/echo_clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "benchmarks/harness.h"
#include "netpoll/contract/clock.h"

namespace netpoll::bench {
namespace {

// A client that waits this long without any event has lost its server.
constexpr int kStallMs = 10000;

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void set_int(int fd, int level, int name, int v) { ::setsockopt(fd, level, name, &v, sizeof v); }

// The clock of a timed client: over() turns true once the timed span has passed, and at that
// moment records the span and the operations counted so far in the client's result.
class Span {
 public:
  explicit Span(double seconds) : t0_(now_ns()), end_(t0_ + static_cast<std::int64_t>(seconds * 1e9)) {}
  bool over(ClientOut& out, std::uint64_t ops_so_far) {
    if (stopped_) return true;
    const std::int64_t t = now_ns();
    if (t < end_) return false;
    stopped_ = true;
    out.ops = ops_so_far;
    out.seconds = double(t - t0_) / 1e9;
    return true;
  }

 private:
  std::int64_t t0_, end_;
  bool stopped_ = false;
};

// An epoll set over connections; closes what it still holds when it goes.
class ClientLoop {
 public:
  ClientLoop() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {}
  ~ClientLoop() {
    for (int& fd : fds_)
      if (fd >= 0) ::close(fd);
    if (ep_ >= 0) ::close(ep_);
  }
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  bool ok() const noexcept { return ep_ >= 0; }
  // Slot i holds fd, registered edge-triggered for `events` with data.u32 = i.
  bool add(std::uint32_t i, int fd, std::uint32_t events) {
    if (fds_.size() <= i) fds_.resize(i + 1, -1);
    fds_[i] = fd;
    epoll_event ev{};
    ev.events = events | EPOLLET;
    ev.data.u32 = i;
    return ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0;
  }
  int fd(std::uint32_t i) const noexcept { return fds_[i]; }
  // Dispatches events until no slot is `open`: on_ready(i, stopping) serves slot i (false: it
  // failed and set out.error); `stopping` turns true once `span` is over, which then records
  // `ops` as the timed count. False on a failure.
  template <class F>
  bool drive(std::size_t& open, Span& span, ClientOut& out, const std::uint64_t& ops, F&& on_ready) {
    epoll_event evs[256];
    while (open > 0) {
      int k = 0;
      if (!wait(evs, 256, k, out.error)) return false;
      const bool stopping = span.over(out, ops);
      for (int e = 0; e < k; ++e) {
        const std::uint32_t i = evs[e].data.u32;
        if (fds_[i] >= 0 && !on_ready(i, stopping)) return false;
      }
    }
    return true;
  }
  void close(std::uint32_t i) {
    ::close(fds_[i]);  // leaves the epoll set with it
    fds_[i] = -1;
  }
  // Waits for events; false (with `err`) on a stall or a failure.
  bool wait(epoll_event* evs, int max, int& n, std::string& err) {
    for (;;) {
      n = ::epoll_wait(ep_, evs, max, kStallMs);
      if (n > 0) return true;
      if (n == 0) {
        err = "no progress for " + std::to_string(kStallMs / 1000) + " s: the server stopped answering";
        return false;
      }
      if (errno != EINTR) {
        err = errno_text("client epoll_wait");
        return false;
      }
    }
  }

 private:
  int ep_;
  std::vector<int> fds_;
};

// Reads the rest of an expected `want`-byte echo into got[have, want): nothing more arrives
// before the client's next message, so it never reads past it. kWait: the socket is drained
// (a short read or EAGAIN; the next edge comes back); kDone: all of it is in; kFailed: end of
// stream or an error (`err` set).
enum class Echo { kWait, kDone, kFailed };
Echo read_echo(int fd, unsigned char* got, std::size_t& have, std::size_t want, std::string& err) {
  for (;;) {
    const ssize_t r = ::read(fd, got + have, want - have);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return Echo::kWait;
    if (r <= 0) {
      err = r == 0 ? "client: end of stream before the whole echo" : errno_text("client read");
      return Echo::kFailed;
    }
    have += static_cast<std::size_t>(r);
    return have < want ? Echo::kWait : Echo::kDone;
  }
}

void ping_message(unsigned char* m, std::uint64_t conn, std::uint64_t round) {
  m[0] = static_cast<unsigned char>(conn);
  m[1] = static_cast<unsigned char>(conn >> 8);
  m[2] = static_cast<unsigned char>(round);
  m[3] = static_cast<unsigned char>(round >> 8);
  m[4] = static_cast<unsigned char>((round >> 16) ^ 0x5a);
}

}  // namespace

int connect_loopback(int port, bool nonblocking, std::string& err) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno_text("client socket");
    return -1;
  }
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  const sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      (nonblocking && ::fcntl(fd, F_SETFL, O_NONBLOCK) != 0)) {
    err = errno_text("client connect");
    ::close(fd);
    return -1;
  }
  return fd;
}

ClientOut blocking_pingpong(int port, std::uint64_t rounds, double seconds) {
  ClientOut out;
  const int fd = connect_loopback(port, false, out.error);
  if (fd < 0) return out;
  out.conns = 1;
  timeval tv{kStallMs / 1000, 0};  // a server that stops answering fails the run instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const std::int64_t t0 = now_ns();
  const std::int64_t stop_at = t0 + static_cast<std::int64_t>(seconds * 1e9);
  unsigned char msg[kPingBytes], got[kPingBytes];
  std::uint64_t i = 0;
  for (;; ++i) {
    if (rounds ? i == rounds : ((i & 63) == 0 && now_ns() >= stop_at)) break;
    ping_message(msg, 0, i);
    if (::send(fd, msg, kPingBytes, MSG_NOSIGNAL) != static_cast<ssize_t>(kPingBytes)) {
      out.error = errno_text("client send");
      break;
    }
    std::size_t have = 0;
    ssize_t r = 1;
    while (have < kPingBytes && (r = ::recv(fd, got + have, kPingBytes - have, 0)) > 0)
      have += static_cast<std::size_t>(r);
    if (have != kPingBytes) {
      out.error = r == 0 ? "client recv: end of stream mid-echo" : errno_text("client recv");
      break;
    }
    if (std::memcmp(msg, got, kPingBytes) != 0) {
      out.error = "echo differs at round trip " + std::to_string(i);
      break;
    }
  }
  out.seconds = double(now_ns() - t0) / 1e9;
  out.ops = i;
  out.echoed = i * kPingBytes;
  ::close(fd);
  return out;
}

ClientOut many_pingpong(int port, int n, double seconds) {
  ClientOut out;
  ClientLoop loop;
  if (!loop.ok()) return out.error = errno_text("client epoll_create1"), out;
  struct Conn {
    std::uint64_t round = 0;
    std::size_t have = 0;  // bytes of the current echo received
    unsigned char msg[kPingBytes];
    unsigned char got[kPingBytes];
  };
  std::vector<Conn> cs(static_cast<std::size_t>(n));
  for (std::uint32_t i = 0; i < cs.size(); ++i) {
    const int fd = connect_loopback(port, true, out.error);
    if (fd < 0) return out;
    if (!loop.add(i, fd, EPOLLIN)) return out.error = errno_text("client epoll_ctl"), out;
    ++out.conns;
  }
  // One message in flight per connection: its 5-byte send always fits the empty send buffer.
  auto send_next = [&](std::uint32_t i) {
    Conn& c = cs[i];
    ping_message(c.msg, i, c.round);
    if (::send(loop.fd(i), c.msg, kPingBytes, MSG_NOSIGNAL) == static_cast<ssize_t>(kPingBytes)) return true;
    out.error = errno_text("client send");
    return false;
  };
  Span span(seconds);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < cs.size(); ++i)
    if (!send_next(i)) return out;
  std::size_t open = cs.size();
  const bool ok = loop.drive(open, span, out, total, [&](std::uint32_t i, bool stopping) {
    Conn& c = cs[i];
    const Echo got = read_echo(loop.fd(i), c.got, c.have, kPingBytes, out.error);
    if (got != Echo::kDone) return got == Echo::kWait;
    if (std::memcmp(c.msg, c.got, kPingBytes) != 0)
      return out.error = "echo differs on connection " + std::to_string(i) + " at round " + std::to_string(c.round), false;
    c.have = 0;
    ++c.round;
    ++total;
    if (!stopping) return send_next(i);
    loop.close(i);
    --open;
    return true;
  });
  if (!ok) return out;
  out.echoed = total * kPingBytes;
  return out;
}

ClientOut pump(int port, std::size_t chunk, std::size_t window, double seconds) {
  ClientOut out;
  ClientLoop loop;
  if (!loop.ok()) return out.error = errno_text("client epoll_create1"), out;
  const int fd = connect_loopback(port, true, out.error);
  if (fd < 0) return out;
  out.conns = 1;
  if (!loop.add(0, fd, EPOLLIN | EPOLLOUT)) return out.error = errno_text("client epoll_ctl"), out;
  // Stream byte k is k % 251: a prime period, so a lost, repeated or reordered piece of any
  // power-of-two size shows up. Any window of the stream up to `chunk` long starts within the
  // first 251 bytes of `pat`.
  constexpr std::size_t kPeriod = 251;
  std::vector<unsigned char> pat(chunk + kPeriod);
  for (std::size_t k = 0; k < pat.size(); ++k) pat[k] = static_cast<unsigned char>(k % kPeriod);
  std::vector<unsigned char> rbuf(64 * 1024);
  std::uint64_t sent = 0, recvd = 0;
  bool stopping = false;
  Span span(seconds);
  epoll_event evs[4];
  for (;;) {
    bool progress = false;
    // Edge-triggered both ways: each direction runs until it would block (or the window is
    // full: then only reading can make progress, and its data raises edges).
    while (!stopping && sent - recvd < window) {
      const std::size_t want = std::min<std::size_t>(chunk - sent % chunk, window - (sent - recvd));
      const ssize_t w = ::send(fd, pat.data() + sent % kPeriod, want, MSG_NOSIGNAL);
      if (w > 0) {
        sent += static_cast<std::uint64_t>(w);
        progress = true;
      } else if (w < 0 && errno == EAGAIN) {
        break;
      } else if (!(w < 0 && errno == EINTR)) {
        return out.error = errno_text("client send"), out;
      }
    }
    for (;;) {
      const ssize_t r = ::read(fd, rbuf.data(), rbuf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) break;
      if (r <= 0) return out.error = r == 0 ? "client: end of stream mid-echo" : errno_text("client read"), out;
      const std::size_t got = static_cast<std::size_t>(r);
      if (recvd + got > sent) return out.error = "the server echoed more than was sent", out;
      for (std::size_t off = 0; off < got; off += chunk) {
        const std::size_t piece = std::min(chunk, got - off);
        if (std::memcmp(rbuf.data() + off, pat.data() + (recvd + off) % kPeriod, piece) != 0)
          return out.error = "echo differs near stream offset " + std::to_string(recvd + off), out;
      }
      recvd += got;
      progress = true;
      if (got < rbuf.size()) break;
    }
    stopping = span.over(out, recvd);
    if (stopping && recvd == sent) break;
    if (!progress) {
      int k = 0;
      if (!loop.wait(evs, 4, k, out.error)) return out;
    }
  }
  out.echoed = recvd;
  return out;
}

ClientOut churn(int port, int concurrency, double seconds) {
  ClientOut out;
  ClientLoop loop;
  if (!loop.ok()) return out.error = errno_text("client epoll_create1"), out;
  const sockaddr_in to = loopback(port);
  struct Slot {
    std::uint64_t id = 0;  // which connection (names its message)
    bool wrote = false;
    std::size_t have = 0;
    unsigned char msg[kChurnBytes];
    unsigned char got[kChurnBytes];
  };
  std::vector<Slot> slots(static_cast<std::size_t>(concurrency));
  std::uint64_t started = 0, done = 0;
  // The 2-byte request, once the connection takes it (a nonblocking connect may still be in
  // progress: EAGAIN, and the EPOLLOUT edge of its completion comes back here).
  auto try_write = [&](std::uint32_t i) {
    Slot& s = slots[i];
    const ssize_t w = ::send(loop.fd(i), s.msg, kChurnBytes, MSG_NOSIGNAL);
    if (w == static_cast<ssize_t>(kChurnBytes)) {
      s.wrote = true;
      return true;
    }
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    out.error = w < 0 ? errno_text("client send") : "client send: partial 2-byte write";
    return false;
  };
  auto start = [&](std::uint32_t i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return out.error = errno_text("client socket"), false;
    // The source address picks the port space; the port itself is chosen at connect time
    // (IP_BIND_ADDRESS_NO_PORT), where the whole 4-tuple must be unique.
    set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + static_cast<std::uint32_t>(started % 250));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
      out.error = errno_text("client bind");
      ::close(fd);
      return false;
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
      out.error = errno_text("client connect");
      ::close(fd);
      return false;
    }
    if (!loop.add(i, fd, EPOLLIN | EPOLLOUT)) return out.error = errno_text("client epoll_ctl"), false;
    Slot& s = slots[i];
    s.id = started++;
    s.wrote = false;
    s.have = 0;
    s.msg[0] = static_cast<unsigned char>(s.id);
    s.msg[1] = static_cast<unsigned char>((s.id >> 8) ^ 0xa5);
    return try_write(i);
  };
  Span span(seconds);
  for (std::uint32_t i = 0; i < slots.size(); ++i)
    if (!start(i)) return out;
  std::size_t open = slots.size();
  const bool ok = loop.drive(open, span, out, done, [&](std::uint32_t i, bool stopping) {
    Slot& s = slots[i];
    if (!s.wrote && !try_write(i)) return false;
    if (!s.wrote) return true;
    const Echo got = read_echo(loop.fd(i), s.got, s.have, kChurnBytes, out.error);
    if (got != Echo::kDone) return got == Echo::kWait;
    if (std::memcmp(s.msg, s.got, kChurnBytes) != 0)
      return out.error = "echo differs on connection " + std::to_string(s.id), false;
    loop.close(i);
    ++done;
    if (!stopping) return start(i);
    --open;
    return true;
  });
  if (!ok) return out;
  out.conns = done;
  out.echoed = done * kChurnBytes;
  return out;
}

ClientOut run_pinned(int cpu, const std::function<ClientOut()>& client) {
  ClientOut out;
  std::thread t([&] {
    pin_to_cpu(cpu);
    const double cpu0 = thread_cpu_ns();
    const std::int64_t t0 = now_ns();
    out = client();
    out.cpu_ns = thread_cpu_ns() - cpu0;
    out.wall_seconds = double(now_ns() - t0) / 1e9;
  });
  t.join();
  return out;
}

}  // namespace netpoll::bench
