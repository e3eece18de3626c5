// The net suite's POSIX-only cases: raw descriptors (socketpair, dup, fork), SO_LINGER resets,
// and connects held in progress by a full listen queue. Windows has no fork or dup of a
// socket; its listen queue refuses a SYN when full (RST) instead of dropping it, so a connect
// cannot be held in progress that way; its reset and many-socket cases are in
// netpoll/net/net_windows_test.cc.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netpoll/net/net.h"
#include "netpoll/net/internal/resolver.h"
#include "test/net_test_util.h"
#include "test/posix_fd.h"
#include "test/test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;
using netpoll::testing::Clock;
using netpoll::testing::ConnPair;
using netpoll::testing::LoopThread;
using netpoll::testing::blocking_pair;
using netpoll::testing::elapsed_ns;
using netpoll::testing::tcp_conn_pair;

namespace {

// A loopback listener with a zero backlog that never accepts: once its queue is full, further
// SYNs are dropped and a connect to it stays in progress.
struct SilentListener {
  SilentListener() : fd(netpoll::testing::socket_cloexec(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    REQUIRE(::listen(fd.get(), 0) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    addr = SockAddr::from(reinterpret_cast<sockaddr*>(&sin), len);
  }
  netpoll::testing::Fd fd;
  SockAddr addr;
};

// --- docs/testing.md case 26: short reads that do not mean "drained" --------------------------

// Waits until the peer acknowledged every byte written on the TCP socket `fd` (TIOCOUTQ, Linux:
// bytes not yet acknowledged), so all of it sits in the peer's receive queue before the first
// Read: then a Read that parks has no later edge to wake it. Where the ioctl is refused (not
// Linux) it only pauses, which makes the case weaker, not wrong.
void wait_delivered(int fd) {
  for (int i = 0; i < 5000; ++i) {
    int n = -1;
    if (::ioctl(fd, TIOCOUTQ, &n) != 0) {
      std::this_thread::sleep_for(50ms);
      return;
    }
    if (n == 0) return;
    std::this_thread::sleep_for(1ms);
  }
  FAIL("the peer did not acknowledge the bytes in 5 s");
}

// Lets the Loop take the edge the queued bytes raised (the poller then has nothing more to
// report), then reads `c` until `want` bytes came, end of stream, or an error. The Reads are
// guarded by a read deadline: one parked on queued bytes ends with deadline_exceeded.
Result<std::string> read_all(Loop& loop, Conn& c, std::size_t want) {
  loop.run_once(Timeout::zero());
  REQUIRE(!c.SetReadDeadline(Clock::now() + 3s));
  Result<std::string> out = loop.block_on([](Conn& c, std::size_t want) -> Task<Result<std::string>> {
    std::string got;
    char b[256];
    while (got.size() < want) {
      Result<std::size_t> n = co_await c.Read(std::span<char>(b));
      if (!n) co_return n.error();
      if (*n == 0) break;
      got.append(b, *n);
    }
    co_return got;
  }(c, want));
  REQUIRE(!c.SetReadDeadline(TimePoint{}));
  return out;
}

std::string error_text(const Result<std::string>& r) { return r ? std::string() : r.error().message(); }

// sendmsg of `data` with one descriptor (SCM_RIGHTS) attached.
void send_with_fd(int sock, std::string_view data, int passed) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
  REQUIRE(::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
}

}  // namespace

TEST_SUITE("net (POSIX)") {

TEST_CASE("case 17: closing other connections from inside one wakeup batch (2500 sockets)") {
  netpoll::testing::raise_fd_limit();
  Loop loop;
  const std::size_t base_fds = netpoll::testing::open_fd_count();
  constexpr int kPairs = 1250;
  std::vector<Conn> conns;
  std::vector<netpoll::testing::Fd> peers;
  for (int i = 0; i < kPairs; ++i) {
    int sv[2];
    REQUIRE(netpoll::testing::socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    Result<Conn> c = FileConn(loop, sv[0]);
    REQUIRE(c);
    conns.push_back(std::move(*c));
    peers.emplace_back(sv[1]);
  }
  int with_data = 0, with_closed = 0, other = 0;
  bool closer_ran = false;
  for (int i = 0; i < kPairs; ++i)
    loop.spawn([](std::vector<Conn>& all, int me, bool& closer, int& d, int& cl, int& o) -> Task<void> {
      char b[8];
      Result<std::size_t> r = co_await all[static_cast<std::size_t>(me)].Read(std::span<char>(b));
      if (r && *r > 0) ++d;
      else if (r.error() == Errc::closed) ++cl;
      else ++o;
      if (!closer) {  // the first one woken closes every other connection
        closer = true;
        for (std::size_t j = 0; j < all.size(); ++j)
          if (static_cast<int>(j) != me) (void)all[j].Close();
      }
    }(conns, i, closer_ran, with_data, with_closed, other));
  loop.run_once(Timeout::zero());  // everyone parks
  for (auto& p : peers) REQUIRE(::write(p.get(), "x", 1) == 1);
  while (loop.spawned() > 0) loop.run_once(Timeout::after(100ms));
  CHECK(closer_ran);
  CHECK(with_data + with_closed == kPairs);
  CHECK(other == 0);
  CHECK(with_data >= 1);
  conns.clear();
  peers.clear();
  loop.run_once(Timeout::zero());
  CHECK(netpoll::testing::open_fd_count() == base_fds);
  CHECK(loop.netpoll().cache().in_use() == 0);
}

TEST_CASE("case 18: dial timeout to a silent listener") {
  Loop loop;
  // A listener whose queue is full and never accepts: further SYNs are dropped, so the
  // connect stays in progress until the dial timeout.
  SilentListener silent;
  const std::string silent_addr = silent.addr.to_string();
  std::vector<Conn> fillers;
  std::error_code timed_out;
  for (int i = 0; i < 16 && !timed_out; ++i) {
    const auto start = Clock::now();
    Result<Conn> c = loop.block_on(Dial(loop, "tcp", silent_addr, 100ms));
    if (c) {
      fillers.push_back(std::move(*c));
      continue;
    }
    timed_out = c.error();
    CHECK(elapsed_ns(start) >= 100'000'000);
  }
  CHECK(timed_out == Errc::deadline_exceeded);
}

TEST_CASE("case 18: Close while connecting wakes the connect with 'closed'") {
  LoopThread lt;
  SilentListener silent;
  const SockAddr& to = silent.addr;
  std::error_code last;
  std::vector<int> held;
  // Connect repeatedly until one stays in progress (the queue is full); close it meanwhile.
  for (int i = 0; i < 16; ++i) {
    const int s = netpoll::testing::socket_cloexec(AF_INET, SOCK_STREAM, 0, /*nonblock=*/true);
    Result<FD*> fd = FD::open(lt.loop, s, true);
    REQUIRE(fd);
    std::thread closer([f = *fd] {
      std::this_thread::sleep_for(50ms);
      (void)f->close();
    });
    Result<bool> r = Operation<ConnectOp>(*fd, to).wait();
    closer.join();
    (*fd)->release();
    if (r) continue;  // it connected before the queue filled
    last = r.error();
    break;
  }
  CHECK(last == Errc::closed);
}

TEST_CASE("case 19: writing to a connection the peer reset fails, it does not hang") {
  LoopThread lt;
  ConnPair p = blocking_pair(lt.loop);
  // Reset: SO_LINGER {1,0} then close.
  linger lg{1, 0};
  REQUIRE(::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  REQUIRE(!p.client.Close());
  std::string chunk(64 * 1024, 'z');
  std::error_code err;
  for (int i = 0; i < 1000 && !err; ++i) err = p.server.Write(std::string_view(chunk)).wait().error();
  CHECK((err == std::errc::connection_reset || err == std::errc::broken_pipe));
  char b[8];
  Result<std::size_t> r = p.server.Read(std::span<char>(b)).wait();
  CHECK((!r || *r == 0));
}

TEST_CASE("case 26: TCP urgent data mid-stream: the bytes after the mark are read, not waited for") {
  // Linux (and the BSDs) stop a read at the urgent mark, SO_OOBINLINE or not: "abc" comes back
  // short while "def" (and an inline "X") is already queued, and no further edge will come.
  for (const bool oob_inline : {false, true}) {
    CAPTURE(oob_inline);
    Loop loop;
    Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    ConnPair p = loop.block_on(tcp_conn_pair(loop, *ln));
    const int on = 1;
    if (oob_inline)
      REQUIRE(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_OOBINLINE, &on, sizeof on) == 0);
    const int peer = p.client.native_handle();
    REQUIRE(::send(peer, "abc", 3, MSG_NOSIGNAL) == 3);
    REQUIRE(::send(peer, "X", 1, MSG_OOB | MSG_NOSIGNAL) == 1);
    REQUIRE(::send(peer, "def", 3, MSG_NOSIGNAL) == 3);
    wait_delivered(peer);
    const std::string want = oob_inline ? "abcXdef" : "abcdef";  // out of band: not in the stream
    Result<std::string> got = read_all(loop, p.server, want.size());
    REQUIRE_MESSAGE(got, error_text(got));
    CHECK(*got == want);
  }
}

TEST_CASE("case 26: an AF_UNIX stream message carrying a descriptor ends a read; the rest is read too") {
  // The kernel ends a stream read after a message with SCM_RIGHTS: "aaab" comes back short
  // while "ccc" is queued.
  Loop loop;
  int sv[2];
  REQUIRE(netpoll::testing::socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  netpoll::testing::Fd peer(sv[1]);
  Result<Conn> c = FileConn(loop, sv[0]);
  REQUIRE(c);
  REQUIRE(::send(peer.get(), "aaa", 3, MSG_NOSIGNAL) == 3);
  netpoll::testing::Fd passed(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  REQUIRE(passed.get() >= 0);
  send_with_fd(peer.get(), "b", passed.get());  // read(2) discards the received descriptor
  REQUIRE(::send(peer.get(), "ccc", 3, MSG_NOSIGNAL) == 3);
  Result<std::string> got = read_all(loop, *c, 7);
  REQUIRE_MESSAGE(got, error_text(got));
  CHECK(*got == "aaabccc");
}

TEST_CASE("case 26: a unixpacket Conn reads one record per Read without waiting for the next edge") {
  Loop loop;
  const netpoll::testing::TempDir dir("netpoll-seqpacket");
  const std::string path = dir.file("s.sock");
  {
    Result<Listener> ln = Listen(loop, "unixpacket", path);
    REQUIRE(ln);
    netpoll::testing::Fd peer(netpoll::testing::socket_cloexec(AF_UNIX, SOCK_SEQPACKET, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::connect(peer.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
    Result<Conn> c = loop.block_on([](Listener& l) -> Task<Result<Conn>> { co_return co_await l.Accept(); }(*ln));
    REQUIRE(c);
    REQUIRE(::send(peer.get(), "one", 3, MSG_NOSIGNAL) == 3);
    REQUIRE(::send(peer.get(), "two", 3, MSG_NOSIGNAL) == 3);
    // Each Read returns one record; both records are queued before the first.
    Result<std::string> first = read_all(loop, *c, 1);
    REQUIRE_MESSAGE(first, error_text(first));
    CHECK(*first == "one");
    Result<std::string> second = read_all(loop, *c, 1);
    REQUIRE_MESSAGE(second, error_text(second));
    CHECK(*second == "two");
  }
}

// The short-read model: random traffic from a raw peer — normal writes, TCP urgent bytes,
// AF_UNIX messages carrying descriptors, zero-length writes — interleaved with the reader's
// Reads of random sizes, empty Reads and empty Writes. The model is the byte stream the peer
// sent (urgent bytes only when SO_OOBINLINE is on). Invariant: no Read may park while bytes are
// readable; a Read made while the model owes bytes ends with bytes (its deadline is only the
// guard), a Read made when nothing is owed may time out only while poll(2) agrees the socket
// has nothing readable. At the end the reader got exactly the model's stream.
TEST_CASE("case 26: short-read model: random urgent data, descriptors, empty reads and writes") {
  struct Kind {
    const char* name;
    bool tcp;
    bool oob_inline;
  };
  for (const Kind kind : {Kind{"tcp", true, false}, Kind{"tcp, SO_OOBINLINE", true, true},
                          Kind{"unix stream", false, false}}) {
    for (unsigned seed = 1; seed <= 4; ++seed) {
      const std::string kind_name = kind.name;
      CAPTURE(kind_name);
      CAPTURE(seed);
      std::mt19937 rng(seed);
      LoopThread lt;
      Conn reader;
      netpoll::testing::Fd unix_peer, devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      REQUIRE(devnull.get() >= 0);
      ConnPair tcp;
      int peer = -1;
      if (kind.tcp) {
        tcp = blocking_pair(lt.loop);
        reader = std::move(tcp.server);
        peer = tcp.client.native_handle();
        const int on = 1;
        if (kind.oob_inline)
          REQUIRE(::setsockopt(reader.native_handle(), SOL_SOCKET, SO_OOBINLINE, &on, sizeof on) == 0);
      } else {
        int sv[2];
        REQUIRE(netpoll::testing::socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        unix_peer.reset(sv[1]);
        peer = sv[1];
        Result<Conn> c = FileConn(lt.loop, sv[0]);
        REQUIRE(c);
        reader = std::move(*c);
      }
      std::string sent, got;
      // In-stream offset of the last urgent mark. A new urgent byte is sent only once the reader
      // is at or past it: an earlier urgent byte not yet reached would turn into stream data.
      std::size_t mark = 0;
      int timeouts = 0, urgent = 0, passed = 0;
      char next = 'a';
      auto fill = [&](std::size_t n) {
        std::string d;
        for (std::size_t i = 0; i < n; ++i) d += next, next = next == 'z' ? 'a' : static_cast<char>(next + 1);
        return d;
      };
      for (int step = 0; step < 300; ++step) {
        CAPTURE(step);
        const unsigned what = rng() % 100;
        if (what < 30) {  // a normal write
          const std::string d = fill(1 + rng() % 40);
          REQUIRE(::send(peer, d.data(), d.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(d.size()));
          sent += d;
        } else if (what < 40) {  // urgent byte (TCP) or a message carrying a descriptor (unix)
          if (kind.tcp) {
            if (got.size() < mark) continue;
            REQUIRE(::send(peer, "!", 1, MSG_OOB | MSG_NOSIGNAL) == 1);
            if (kind.oob_inline) sent += '!';
            mark = sent.size();
            ++urgent;
          } else {
            const std::string d = fill(1 + rng() % 3);
            send_with_fd(peer, d, devnull.get());
            sent += d;
            ++passed;
          }
        } else if (what < 45) {  // a zero-length write by the peer; an empty Write by the reader
          REQUIRE(::send(peer, "", 0, MSG_NOSIGNAL) == 0);
          Result<std::size_t> w = reader.Write(std::string_view()).wait();
          REQUIRE(w);
          CHECK(*w == 0);
        } else if (what < 55) {  // an empty Read
          char b[1];
          Result<std::size_t> n = reader.Read(std::span<char>(b, 0)).wait();
          REQUIRE(n);
          CHECK(*n == 0);
        } else {  // a Read of a random size
          const bool owed = got.size() < sent.size();
          if (!owed && rng() % 8 != 0) continue;  // reads with nothing owed wait out a deadline
          char b[128];
          const std::size_t size = 1 + rng() % sizeof b;
          REQUIRE(!reader.SetReadDeadline(Clock::now() + (owed ? 3s : 2ms)));
          Result<std::size_t> n = reader.Read(std::span<char>(b, size)).wait();
          REQUIRE(!reader.SetReadDeadline(TimePoint{}));  // an expired one fails every Read
          if (n) {
            REQUIRE(*n > 0);  // no end of stream: the peer never closes
            got.append(b, *n);
            REQUIRE(got.size() <= sent.size());
            CHECK(got == sent.substr(0, got.size()));
          } else {
            REQUIRE_MESSAGE(n.error() == Errc::deadline_exceeded, n.error().message());
            REQUIRE_MESSAGE(!owed, "a Read parked while ", sent.size() - got.size(), " bytes were owed");
            pollfd pfd{reader.native_handle(), POLLIN, 0};
            REQUIRE(::poll(&pfd, 1, 0) >= 0);
            CHECK_MESSAGE((pfd.revents & POLLIN) == 0, "the Read timed out on a readable socket");
            ++timeouts;
          }
        }
      }
      // Drain what is still owed.
      REQUIRE(!reader.SetReadDeadline(Clock::now() + 3s));
      while (got.size() < sent.size()) {
        char b[128];
        Result<std::size_t> n = reader.Read(std::span<char>(b)).wait();
        REQUIRE_MESSAGE(n, n.error().message(), " with ", sent.size() - got.size(), " bytes owed");
        REQUIRE(*n > 0);
        got.append(b, *n);
      }
      CHECK(got == sent);
      MESSAGE(kind_name, " seed ", seed, ": ", sent.size(), " bytes, ", urgent, " urgent, ", passed,
              " descriptors passed, ", timeouts, " idle reads timed out");
    }
  }
}

// The descriptor numbers /dev/fd lists in this process (Linux: a link to /proc/self/fd; macOS and
// the BSDs: fdescfs), without the listing's own.
std::set<int> open_descriptors() {
  std::set<int> fds;
  DIR* d = ::opendir("/dev/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') fds.insert(std::atoi(e->d_name));
  fds.erase(::dirfd(d));
  ::closedir(d);
  return fds;
}

TEST_CASE("case 2: a child process inherits none of the Loop's or the sockets' descriptors") {
  // What the child holds without a leak: its stdout (the pipe below), and whatever was open
  // without FD_CLOEXEC before this test made anything (stdio, the test runner's).
  std::set<int> allowed{1};
  for (int fd : open_descriptors())
    if (const int fl = ::fcntl(fd, F_GETFD); fl >= 0 && !(fl & FD_CLOEXEC)) allowed.insert(fd);
  // ls's own directory descriptor: the lowest number free after exec, if nothing leaked.
  int ls_dir = 0;
  while (allowed.count(ls_dir)) ++ls_dir;
  Loop loop;  // the poller and its wake descriptor(s)
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  ConnPair p = loop.block_on(tcp_conn_pair(loop, *ln));
  int pipefd[2];
  REQUIRE(netpoll::testing::pipe_cloexec(pipefd) == 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    // ls lists the numbers open after exec, plus its own directory descriptor.
    ::execl("/bin/ls", "ls", "-1", "/dev/fd/", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char b[256];
  for (ssize_t n; (n = ::read(pipefd[0], b, sizeof b)) > 0;) out.append(b, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CAPTURE(out);
  std::vector<int> extra;  // open in the child, neither allowed nor ls's own
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const int fd = std::atoi(line.c_str());
    if (!line.empty() && !allowed.count(fd) && fd != ls_dir) extra.push_back(fd);
  }
  CAPTURE(ls_dir);
  CAPTURE(extra.size());
  CHECK(extra.empty());  // the Loop's, the listener's and the Conns' descriptors all closed
}

TEST_CASE("case 2: a dup'd descriptor outliving Close reports nothing to the poller") {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  ConnPair p = loop.block_on(tcp_conn_pair(loop, *ln));
  netpoll::testing::Fd dupd(::dup(p.server.native_handle()));
  REQUIRE(dupd.get() >= 0);
  REQUIRE(!p.server.Close());
  loop.run_once(Timeout::zero());  // the last reference drops: deregistered, then closed
  // Traffic and a hangup on the still-open file description: no event may reach the poller
  // (it was deregistered before close, so the dup keeps no registration alive).
  REQUIRE(::send(p.client.native_handle(), "data", 4, MSG_NOSIGNAL) == 4);
  REQUIRE(!p.client.Close());
  loop.run_once(Timeout::zero());  // the client's own deregistration
  WaiterList ready;
  Result<std::size_t> n = loop.netpoll().poll(Timeout::after(50ms), ready);
  REQUIRE(n);
  CHECK(*n == 0);
  CHECK(ready.empty());
  char b[8];
  CHECK(::read(dupd.get(), b, sizeof b) == 4);  // the data went to the dup, untouched by us
}

// A lifetime bug (docs/testing.md case 29): Close returned while a parked Accept (or Read) still held the descriptor, so
// the address could not be listened on again and a Unix listener's file was removed while its
// socket was open. Go's Close waits for the descriptor; so does netpoll's (POSIX).
TEST_CASE("when Close returns with an Accept parked, the descriptor is closed and the address free") {
  SUBCASE("a coroutine parked in Accept, closed by another coroutine") {
    Loop loop;
    Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    const std::string addr = ln->Addr().to_string();
    const int fd = ln->native_handle();
    std::error_code accepted;
    loop.spawn([](Listener& l, std::error_code& out) -> Task<void> {
      out = (co_await l.Accept()).error();
    }(*ln, accepted));
    loop.run_once(Timeout::zero());  // the Accept parks
    REQUIRE(loop.spawned() == 1);
    bool relisted = false;
    loop.block_on([&]() -> Task<void> {
      CHECK(!ln->Close());
      CHECK(::fcntl(fd, F_GETFD) == -1);  // closed already (nothing else opens descriptors here)
      Result<Listener> again = Listen(loop, "tcp", addr);
      CHECK(again);
      relisted = static_cast<bool>(again);
      co_return;
    }());
    CHECK(relisted);
    while (loop.spawned() > 0) loop.run_once(Timeout::after(100ms));
    CHECK(accepted == Errc::closed);
  }
  SUBCASE("a plain thread parked in Accept, closed from another thread") {
    LoopThread lt;
    Result<Listener> ln = Listen(lt.loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    const std::string addr = ln->Addr().to_string();
    std::error_code accepted;
    std::thread t([&] { accepted = ln->Accept().wait().error(); });
    // Parked once it holds the read lock and a reference (bounded wait: a failure guard).
    for (int i = 0; i < 20000 && ln->fd()->mu().refs() == 0; ++i) std::this_thread::sleep_for(100us);
    REQUIRE(!ln->Close());
    Result<Listener> again = Listen(lt.loop, "tcp", addr);
    CHECK(again);
    t.join();
    CHECK(accepted == Errc::closed);
  }
  SUBCASE("a Unix listener: its socket is closed before its file is removed") {
    Loop loop;
    const std::string path = "/tmp/netpoll-close-" + std::to_string(::getpid()) + ".sock";
    Result<Listener> ln = Listen(loop, "unix", path);
    REQUIRE(ln);
    const int fd = ln->native_handle();
    loop.spawn([](Listener& l) -> Task<void> { (void)co_await l.Accept(); }(*ln));
    loop.run_once(Timeout::zero());
    REQUIRE(!ln->Close());
    CHECK(::fcntl(fd, F_GETFD) == -1);
    CHECK(::access(path.c_str(), F_OK) != 0);
    Result<Listener> again = Listen(loop, "unix", path);  // the path is free again
    CHECK(again);
    while (loop.spawned() > 0) loop.run_once(Timeout::after(100ms));
  }
  SUBCASE("a Unix listener closed through a Socket& removes its file too") {
    Loop loop;
    netpoll::testing::TempDir dir("np-uc");
    const std::string path = dir.file("s");
    {
      Result<Listener> ln = Listen(loop, "unix", path);
      REQUIRE(ln);
      Socket& s = *ln;  // as examples/serve.h's ConnSet closes listeners
      REQUIRE(!s.Close());
      CHECK(::access(path.c_str(), F_OK) != 0);
      Result<Listener> moved_from = Listen(loop, "unix", path);
      REQUIRE(moved_from);
      Listener moved = std::move(*moved_from);  // the flag moves with the socket
      CHECK(moved_from->Close() == Errc::closed);
      CHECK(::access(path.c_str(), F_OK) == 0);
    }  // ~Listener of `moved`: closes and removes it
    CHECK(::access(path.c_str(), F_OK) != 0);
  }
  SUBCASE("a Unix listener with a long path: its accepted connections report it as their local address") {
    Loop loop;
    netpoll::testing::TempDir dir("np-ua");
    // Longer than PackedAddr keeps inline, so the Conns share the Listener's copy.
    const std::string path = dir.file(std::string(60, 'p'));
    Result<Listener> ln = Listen(loop, "unix", path);
    REQUIRE(ln);
    CHECK(ln->Addr().to_string() == path);
    std::vector<Conn> accepted;
    std::vector<netpoll::testing::Fd> clients;
    for (int i = 0; i < 3; ++i) {
      clients.emplace_back(netpoll::testing::socket_cloexec(AF_UNIX, SOCK_STREAM, 0));
      const SockAddr to = ln->Addr();
      REQUIRE(::connect(clients.back().get(), to.get(), to.len()) == 0);
      Result<Conn> c = loop.block_on([](Listener& l) -> Task<Result<Conn>> { co_return co_await l.Accept(); }(*ln));
      REQUIRE(c);
      accepted.push_back(std::move(*c));
    }
    ln = Result<Listener>(Listener());  // the listener goes first: its address stays with the Conns
    for (Conn& c : accepted) {
      CHECK(c.LocalAddr().to_string() == path);
      CHECK(c.RemoteAddr().to_string() == "");  // an unnamed client
    }
  }
  SUBCASE("a Read parked in a coroutine: Close closes the connection at once") {
    Loop loop;
    Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
    REQUIRE(ln);
    ConnPair p = loop.block_on(tcp_conn_pair(loop, *ln));
    loop.spawn([](Conn& c) -> Task<void> {
      char b[4];
      (void)co_await c.Read(std::span<char>(b));
    }(p.server));
    loop.run_once(Timeout::zero());
    REQUIRE(!p.server.Close());
    // The peer sees the end of stream without the Loop stepping again.
    char b[4];
    CHECK(::recv(p.client.native_handle(), b, sizeof b, 0) == 0);
    while (loop.spawned() > 0) loop.run_once(Timeout::after(100ms));
  }
}

// Misuse refused (docs/testing.md case 28): FileConn on a socket a live Conn owns returned already_registered and then
// closed that socket; its number could be reused and the old Conn later close an unrelated
// socket. On any error FileConn now leaves the socket open and the caller's.
TEST_CASE("FileConn on another Conn's socket is refused and leaves that socket working") {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  ConnPair p = loop.block_on(tcp_conn_pair(loop, *ln));
  const int fd = p.server.native_handle();
  Result<Conn> twice = FileConn(loop, fd);
  CHECK(twice.error() == Errc::already_registered);
  CHECK(::fcntl(fd, F_GETFD) != -1);  // still open
  loop.block_on([&]() -> Task<void> {
    CHECK(co_await p.client.Write(std::string_view("still")));
    char b[5];
    Result<std::size_t> n = co_await p.server.Read(std::span<char>(b));
    CHECK(n);
    CHECK(*n == 5);
  }());
}

namespace {
#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
Addrs answer_at_once(std::string_view, std::string_view, bool) { return AddrErrc::no_suitable_address; }
}  // namespace

// The resolver pool is process-wide: a child forked while the parent has pool threads must not
// queue its lookups for threads that were not copied into it.
TEST_CASE("a forked child resolves names on a pool of its own") {
  if (kThreadSanitizer) {
    MESSAGE("NOT RUN under TSan: it cannot start threads in a child forked from a multi-threaded "
            "process (die_after_fork); this case runs natively and under ASan");
    return;
  }
  ResolverPool::hooks().lookup = &answer_at_once;
  {
    Loop loop;
    CHECK(loop.block_on(Dial(loop, "tcp", "parent.example:80")).error() == AddrErrc::no_suitable_address);
  }
  REQUIRE(ResolverPool::instance().stats().threads >= 1);  // an idle thread, in the parent only
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Loop loop;
    Result<Conn> c = loop.block_on(Dial(loop, "tcp", "child.example:80", 5s));
    ::_exit(!c && c.error() == AddrErrc::no_suitable_address ? 0 : 1);  // not deadline_exceeded
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ResolverPool::hooks().lookup = nullptr;
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // TEST_SUITE
