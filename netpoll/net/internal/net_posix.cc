// The POSIX half of the net layer: the os:: socket calls (netpoll/net/internal/sock.h) over the sys_posix hook
// table, the listen backlog, and FileConn.
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "netpoll/core/mutex.h"
#include "netpoll/net/net.h"
#include "netpoll/net/internal/sock.h"
#include "netpoll/net/internal/sys_posix.h"
#include "netpoll/contract/error.h"

namespace netpoll::net {

namespace os {

namespace {
// libuv's answer to EMFILE on accept: one descriptor held in reserve, released to accept and
// close the clients the process has no room for. Process-wide; -1 if it could not be opened.
Mutex g_reserve_mu;
int g_reserve_fd = -2;  // -2: not opened yet

int open_reserve() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }
}  // namespace

// True if the queue is empty now (accept said EAGAIN), so the Accept can park for the next.
bool shed_pending(int listen_fd) noexcept {
  bool drained = false;
  MutexLock g(g_reserve_mu);
  if (g_reserve_fd == -2) g_reserve_fd = -1;
  for (;;) {
    if (g_reserve_fd >= 0) {
      sys.close(g_reserve_fd);
      g_reserve_fd = -1;
    }
    int c = sys.accept4(listen_fd, nullptr, nullptr, kSockCloexec);
    // Without accept4 (AcceptOp's fallback), plain accept: c is closed at once anyway.
    if (c < 0 && (errno == ENOSYS || errno == EINVAL)) c = sys.accept(listen_fd, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      drained = errno == EAGAIN || errno == EWOULDBLOCK;
      break;  // or still no descriptor to be had (another thread took the reserve's)
    }
    sys.close(c);
    g_reserve_fd = open_reserve();
    if (g_reserve_fd < 0) break;
  }
  g_reserve_fd = open_reserve();
  return drained;
}

std::error_code startup() noexcept { return {}; }

// Opens the reserve before the listener's socket, so it exists before descriptors run out;
// only a listener's accept ever uses it.
void prepare_listener() noexcept {
  MutexLock g(g_reserve_mu);
  if (g_reserve_fd == -2) g_reserve_fd = open_reserve();
}

// The fallback is for kernels refusing the type flags, and for OSes without them (macOS).
Result<NativeSocket> open_socket(int family, int type) noexcept {
  int s = -1;
  if constexpr (kSockNonblock != 0) {
    s = sys.socket(family, type | kSockNonblock | kSockCloexec, 0);
    if (s >= 0 && set_no_sigpipe(s) != 0) {
      const int err = errno;
      sys.close(s);
      return errno_code(err);
    }
    if (s >= 0) return s;
    if (errno != EINVAL && errno != EPROTONOSUPPORT) return errno_code(errno);
  }
  s = sys.socket(family, type, 0);
  if (s < 0) return errno_code(errno);
  if (sys.fcntl_setfd(s, FD_CLOEXEC) != 0 || sys.fcntl_setfl(s, O_NONBLOCK | O_RDWR) != 0 ||
      set_no_sigpipe(s) != 0) {
    const int err = errno;
    sys.close(s);
    return errno_code(err);
  }
  return s;
}

std::error_code registered(NativeSocket, bool) noexcept { return {}; }

// Never retried on EINTR: Linux has released the descriptor whatever close returns.
void close_socket(NativeSocket s) noexcept { sys.close(s); }

namespace {
std::error_code check(int r) noexcept { return r == 0 ? std::error_code() : errno_code(errno); }

Result<SockAddr> address(int (*get)(int, sockaddr*, socklen_t*), int s) noexcept {
  SockAddr a;
  a.set_len(SockAddr::capacity());
  if (get(s, a.get(), a.len_ptr()) != 0) return errno_code(errno);
  return a;
}

int read_somaxconn() noexcept {
  const long v = system_somaxconn();
  if (v <= 0) return SOMAXCONN;
  // Kernels before 4.1 keep the backlog in 16 bits; Go caps the same way.
  return v > 65535 ? 65535 : static_cast<int>(v);
}

class GaiCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "netpoll.resolve"; }
  std::string message(int c) const override { return std::string("lookup: ") + gai_strerror(c); }
};
const GaiCategory g_gai;
}  // namespace

std::error_code set_int(NativeSocket s, int level, int name, int value) noexcept {
  return check(sys.setsockopt(s, level, name, &value, sizeof value));
}
std::error_code bind(NativeSocket s, const SockAddr& a) noexcept {
  return check(sys.bind(s, a.get(), a.len()));
}
std::error_code listen(NativeSocket s) noexcept { return check(sys.listen(s, listener_backlog())); }
std::error_code listener_options(NativeSocket s) noexcept {
  return set_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
}
std::error_code set_keep_alive(NativeSocket s, int seconds) noexcept {
  if (auto ec = set_int(s, SOL_SOCKET, SO_KEEPALIVE, seconds > 0 ? 1 : 0)) return ec;
  if (seconds <= 0) return {};
  if constexpr (kTcpKeepIdleOption != 0)
    if (auto ec = set_int(s, IPPROTO_TCP, kTcpKeepIdleOption, seconds)) return ec;
  if constexpr (kTcpKeepIntervalOption != 0)
    if (auto ec = set_int(s, IPPROTO_TCP, kTcpKeepIntervalOption, seconds)) return ec;
  return {};
}
std::error_code shutdown(NativeSocket s, int how) noexcept { return check(sys.shutdown(s, how)); }
Result<SockAddr> local_address(NativeSocket s) noexcept { return address(sys.getsockname, s); }
Result<SockAddr> peer_address(NativeSocket s) noexcept { return address(sys.getpeername, s); }

std::error_code pending_error(NativeSocket s) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (sys.getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno_code(errno);
  return err ? errno_code(err) : std::error_code();
}

void at_fork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept {
  // ENOMEM only; then a forked child resolving names may wait for threads it does not have,
  // which its Dial deadline still bounds.
  (void)pthread_atfork(prepare, parent, child);
}

std::error_code resolve_error(int r) noexcept {
  if (r == EAI_SYSTEM) return errno_code(errno);
  return {r, g_gai};
}

}  // namespace os

int listener_backlog() noexcept {
  static const int backlog = os::read_somaxconn();
  return backlog;
}

Result<Conn> FileConn(Loop& loop, NativeSocket sysfd) {
  if (sysfd < 0) return Errc::invalid_argument;
  int type = 0, acc = 0;
  socklen_t len = sizeof type;
  if (sys.getsockopt(sysfd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return errno_code(errno);
  len = sizeof acc;
  if (sys.getsockopt(sysfd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc)
    return errno_code(EINVAL);  // a listener is not a Conn
  Result<SockAddr> local = os::local_address(sysfd);
  if (!local) return local.error();
  Result<SockAddr> peer = os::peer_address(sysfd);  // none: an unconnected datagram socket
  Result<Network> n = network_of(local->family(), type);
  if (!n) return n.error();
  if (sys.fcntl_setfd(sysfd, FD_CLOEXEC) != 0 || sys.fcntl_setfl(sysfd, O_NONBLOCK | O_RDWR) != 0)
    return errno_code(errno);
  // Best effort: Darwin refuses every option (EINVAL) on a socket already shut down both ways,
  // which must still be adoptable; the net layer's sends pass MSG_NOSIGNAL anyway.
  (void)set_no_sigpipe(sysfd);
  // On error the socket stays the caller's: it may be another Conn's (already_registered), and
  // closing it would let that Conn later close whatever reuses the number.
  Result<PackedAddr> plocal = PackedAddr::from(*local);
  Result<PackedAddr> ppeer = PackedAddr::from(peer ? *peer : SockAddr());
  if (!plocal) return plocal.error();
  if (!ppeer) return ppeer.error();
  Result<FD*> fd = FD::open(loop, sysfd, type == SOCK_STREAM, /*adopt=*/true);
  if (!fd) return fd.error();
  return Conn(*fd, *n, std::move(*plocal), std::move(*ppeer));
}

}  // namespace netpoll::net
