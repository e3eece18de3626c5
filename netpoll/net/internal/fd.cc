#include "netpoll/net/internal/fd.h"

#include <cerrno>
#include <new>

#include "netpoll/net/internal/sock.h"
#include "netpoll/contract/error.h"

namespace netpoll::net {

Result<FD*> FD::open(Loop& loop, NativeSocket sysfd, bool stream, bool adopt) noexcept {
  if (sysfd == kInvalidSocket) return Errc::invalid_argument;
  FD* fd = new (std::nothrow) FD(loop, sysfd, stream);
  if (!fd) {
    if (!adopt) os::close_socket(sysfd);
    return errno_code(ENOMEM);
  }
  Result<PollDesc*> pd = loop.netpoll().open(sysfd);
  std::error_code ec = pd ? os::registered(sysfd, stream) : pd.error();
  if (ec) {
    if (pd) (void)loop.netpoll().close(*pd);
    if (!adopt) os::close_socket(sysfd);
    delete fd;
    return ec;
  }
  fd->pd_ = *pd;
  loop.socket_opened();
  return fd;
}

std::error_code FD::close() noexcept {
  if (!mu_.incref_and_close()) return Errc::closed;
  // Unblock parked operations now (they see Errc::closed); then the socket (see Lifetime).
  loop_->netpoll().evict(pd_);
  close_socket();
  decref();
  return {};
}

void FD::close_socket() noexcept {
  std::uint32_t v = io_.fetch_or(kIoClosing, std::memory_order_acq_rel) | kIoClosing;
  // A call in flight may be a ring operation whose SQE the polling thread filled and has not
  // handed to the kernel yet (io_uring): it does with its next io_uring_enter, which may be a
  // blocking one, so wake it (a rare race; the other backends' calls end on their own). On
  // the polling thread itself only such a call can be in flight (an enter that found the
  // kernel short of memory left it in the SQ), and only this thread can hand it over.
  if (v != kIoClosing) {
    if (Loop::current() == loop_)
      hand_over_filled_calls(*this);
    else
      loop_->netpoll().wake();
  }
  while (v != kIoClosing) {  // a call in flight on another thread: it ends soon and wakes us
    address_wait(io_, v);
    v = io_.load(std::memory_order_acquire);
  }
  release_kernel_calls(*this);
  // Deregister before closing so a dup'd or inherited copy stops reporting (docs/pitfalls.md 1).
  (void)loop_->netpoll().deregister(pd_);
  // sysfd_ keeps the closed number (native_handle() readers would race a reset); no call
  // uses it once io_ is closing.
  os::close_socket(sysfd_);
}

void FD::destroy() noexcept {
  // The socket was closed by close(), which comes before any last reference.
  loop_->netpoll().release(pd_);
  pd_ = nullptr;
  unref_life();
}

void FD::release() noexcept {
  if (!mu_.closed()) close();
  unref_life();
}

void FD::unref_life() noexcept {
  if (life_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  Loop* loop = loop_;
  delete this;
  loop->socket_freed();  // the last touch of the Loop, which may be destroyed from now on
}

// Runs f under a reference (the PollDesc stays this FD's meanwhile); Errc::closed if closed.
template <class F>
auto FD::with_ref(F f) noexcept -> decltype(f()) {
  if (!incref()) return Errc::closed;
  auto r = f();
  decref();
  return r;
}

// Runs a call on the socket between enter_io and exit_io (close() waits for it); Errc::closed
// once close() has begun. The caller owns the FD, so its memory needs no reference.
template <class F>
auto FD::with_io(F f) noexcept -> decltype(f()) {
  if (!enter_io()) return Errc::closed;
  auto r = f();
  exit_io();
  return r;
}

std::error_code FD::set_deadline(std::int64_t deadline_ns, Mode m) noexcept {
  return with_ref([&] {
    // Arming a timer may grow the timer heap: out of memory, the deadline (of a direction
    // that could not be armed) is left as it was, and a retry may succeed (PollDesc).
    try {
      loop_->netpoll().set_deadline(pd_, deadline_ns, m);
    } catch (const std::bad_alloc&) {
      return errno_code(ENOMEM);
    }
    return std::error_code();
  });
}

std::error_code FD::shutdown(int how) noexcept {
  return with_io([&] { return os::shutdown(sysfd_, how); });
}

std::error_code FD::setsockopt_int(int level, int name, int value) noexcept {
  return with_io([&] { return os::set_int(sysfd_, level, name, value); });
}

std::error_code FD::set_keep_alive(int seconds) noexcept {
  return with_io([&] { return os::set_keep_alive(sysfd_, seconds); });
}

Result<SockAddr> FD::sockname() noexcept {
  return with_io([&] { return os::local_address(sysfd_); });
}

Result<SockAddr> FD::peername() noexcept {
  return with_io([&] { return os::peer_address(sysfd_); });
}

std::error_code FD::socket_error() noexcept {
  const std::error_code ec = os::pending_error(sysfd_);
  return ec ? ec : std::error_code(Errc::event_error);
}

}  // namespace netpoll::net
