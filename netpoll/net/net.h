// The public net API: Go's net package in C++ form, on a Loop.
//
//   Loop loop;
//   auto ln = Listen(loop, "tcp", ":8080");            // Result<Listener>
//   Task<void> serve(Listener& ln) {
//     for (;;) {
//       Result<Conn> c = co_await ln.Accept();          // no allocation per operation
//       ...  co_await c->Read(buf);  co_await c->Write(bytes);
//     }
//   }
//
// Every operation is an Operation<Op>: `co_await op` in a coroutine on the Loop, or
// `op.wait()` on any other thread while some thread runs the Loop (blocking mode). Dial returns
// a Task: `co_await Dial(...)` or `Dial(...).wait()`.
//
// Errors are values: std::error_code from the OS (generic_category: compare with std::errc),
// netpoll::Errc::closed ("use of closed network connection"), Errc::deadline_exceeded, or
// net::AddrErrc for malformed input. Read returns 0 at end of stream.
//
// Concurrency (as Go): one Read and one Write may run at once on a Conn; more of either queue
// in order. Close may be called from any thread at any time and wakes them with Errc::closed.
// A Conn may be destroyed while operations are still unwinding (they hold the descriptor, not
// the Conn).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "netpoll/net/address.h"
#include "netpoll/net/internal/fd_ops.h"
#include "netpoll/runtime/loop.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/contract/result.h"

namespace netpoll::net {

using TimePoint = std::chrono::steady_clock::time_point;  // TimePoint{} means "no deadline"

inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Shared by Conn, Listener and PacketConn: the FD, the addresses, Close and deadlines.
class Socket {
 public:
  Socket() noexcept = default;
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket&& o) noexcept;
  ~Socket();

  bool valid() const noexcept { return fd_ != nullptr; }
  Network network() const noexcept { return net_; }
  // By value: kept packed (PackedAddr), so a Conn is 80 bytes, not 344.
  SockAddr LocalAddr() const noexcept { return laddr_.get(); }

  // Errc::closed on the second call. Wakes every parked operation with Errc::closed, and
  // closes the socket before it returns (waiting only for a call in flight on another thread).
  // A Unix listener made by Listen then removes its socket file (once, even if the close
  // reported an error).
  std::error_code Close() noexcept;
  std::error_code SetDeadline(TimePoint t) noexcept;
  std::error_code SetReadDeadline(TimePoint t) noexcept;
  std::error_code SetWriteDeadline(TimePoint t) noexcept;

  // The OS socket, for options netpoll does not wrap. kInvalidSocket when empty. Calls made
  // on it are the caller's to keep from racing Close (after Close the number may name another
  // socket); netpoll's own calls are bracketed against it.
  NativeSocket native_handle() const noexcept { return fd_ ? fd_->sysfd() : kInvalidSocket; }
  FD* fd() const noexcept { return fd_; }

 protected:
  Socket(FD* fd, Network n, PackedAddr laddr) noexcept : fd_(fd), laddr_(std::move(laddr)), net_(n) {}
  void reset() noexcept;  // close (if still open) and let go of the FD
  FD* fd_ = nullptr;
  PackedAddr laddr_;
  Network net_ = Network::tcp;
  // A Unix listener Listen created: Close removes the socket file, laddr_'s path (Go's
  // unlinkOnClose). Here, not in Listener, so a Close through a Socket& does it too; it sits in
  // the padding after net_, so a Conn pays nothing for it.
  bool unlink_on_close_ = false;
};

class Conn : public Socket {
 public:
  Conn() noexcept = default;
  Conn(FD* fd, Network n, PackedAddr laddr, PackedAddr raddr) noexcept
      : Socket(fd, n, std::move(laddr)), raddr_(std::move(raddr)) {}

  // Reads up to buf.size() bytes; 0 at end of stream (or for an empty buf).
  Operation<ReadOp> Read(std::span<std::byte> buf) noexcept { return Operation<ReadOp>(fd_, buf); }
  Operation<ReadOp> Read(std::span<char> buf) noexcept { return Read(std::as_writable_bytes(buf)); }
  // Waits, holding no buffer, until a Read would find something: bytes, the end of stream, or
  // an error (returned here: the receive that reports it also clears it). For servers that
  // keep no read buffer while a connection is idle (Go's RawConn.Read): take one from a pool
  // when Readable finishes, Read into it, give it back (examples/echo.h). Holds the read lock
  // while it waits, as a Read does; Close and the read deadline end it as they end a Read.
  // Rarely it finishes after a wakeup whose bytes a previous Read already took; the Read after
  // it then waits as usual. No syscall when the kernel's last word settles it (a drained
  // socket parks at once, and the edge that ends the park needs none); else one MSG_PEEK.
  // Windows: a zero-byte overlapped receive, stream sockets only (on a datagram Conn:
  // std::errc::operation_not_supported).
  Operation<ReadableOp> Readable() noexcept { return Operation<ReadableOp>(fd_); }
  // Writes all of buf (partial writes continue) and returns buf.size(), or the error.
  Operation<WriteOp> Write(std::span<const std::byte> buf) noexcept { return Operation<WriteOp>(fd_, buf); }
  Operation<WriteOp> Write(std::string_view s) noexcept { return Write(as_bytes(s)); }
  // Writes all the buffers in order with gathered sends. `bufs` must outlive the operation.
  Operation<WritevOp> Writev(std::span<const std::span<const std::byte>> bufs) noexcept {
    return Operation<WritevOp>(fd_, bufs);
  }

  // Half-close: the peer reads end of stream after what was written; reading goes on.
  std::error_code CloseWrite() noexcept;
  std::error_code CloseRead() noexcept;
  SockAddr RemoteAddr() const noexcept { return raddr_.get(); }
  std::error_code SetNoDelay(bool on) noexcept;

 private:
  PackedAddr raddr_;
};

class Listener;

// Accept's operation: the FD-level accept, then the new Conn (registered, TCP_NODELAY on).
class AcceptConnOp {
 public:
  // `listener_addr`: an accepted connection's local address is the listener's unless the
  // listener is bound to a wildcard, so only then is getsockname needed (a syscall less per
  // accept otherwise).
  // `keep_alive_s`: the listener's ListenConfig::keep_alive in seconds, -1 for none.
  AcceptConnOp(FD* fd, Network n, const PackedAddr& listener_addr, int family, bool wildcard,
               int keep_alive_s) noexcept
      : inner_(fd, family), net_(n), wildcard_(wildcard), listener_addr_(listener_addr),
        keep_alive_s_(keep_alive_s) {}
  bool step(Waiter* w) noexcept { return inner_.step(w); }
  // After the inner operation finished, so after its reference on the listener's FD is gone
  // (another thread may have closed and released the Listener): the listener's FD is not
  // touched here, only its Loop, which the operation kept.
  Result<Conn> result() noexcept;
  Result<Conn> fail_on_loop_thread() noexcept { return Errc::would_deadlock; }
  Loop* loop() const noexcept { return inner_.loop(); }

 private:
  AcceptOp inner_;
  Network net_;
  bool wildcard_;            // the listener is bound to a wildcard (or its address is unknown)
  PackedAddr listener_addr_;  // a copy: the Listener may be moved while an Accept is pending
  int keep_alive_s_;
};

class Listener : public Socket {
 public:
  Listener() noexcept = default;
  Listener(FD* fd, Network n, PackedAddr laddr, int family, bool wildcard) noexcept
      : Socket(fd, n, std::move(laddr)), family_(family), wildcard_(wildcard) {}
  Operation<AcceptConnOp> Accept() noexcept {
    return Operation<AcceptConnOp>(fd_, net_, laddr_, family_, wildcard_, keep_alive_s_);
  }
  SockAddr Addr() const noexcept { return laddr_.get(); }

 private:
  friend struct ListenConfig;
  int family_ = 0;
  bool wildcard_ = true;
  int keep_alive_s_ = -1;  // applied to each accepted connection; -1: left as the OS has it
};

class PacketConn : public Socket {
 public:
  PacketConn() noexcept = default;
  PacketConn(FD* fd, Network n, PackedAddr laddr) noexcept : Socket(fd, n, std::move(laddr)) {}
  // One datagram: its size (truncated to buf) and sender.
  Operation<RecvFromOp> ReadFrom(std::span<std::byte> buf) noexcept {
    return Operation<RecvFromOp>(fd_, buf);
  }
  Operation<SendToOp> WriteTo(std::span<const std::byte> buf, const SockAddr& to) noexcept {
    return Operation<SendToOp>(fd_, buf, to);
  }
};

// The hook ListenConfig::control and Dialer::control run on each socket netpoll creates, after
// netpoll's own options and before bind (listen) or connect (dial), as Go's Control: for
// options netpoll does not wrap. An error closes the socket (nothing is left open) and is the
// call's error (an exception from it is caught there: std::bad_alloc as ENOMEM, any other as
// Errc::invalid_argument). It runs on the calling thread for Listen / ListenPacket, and on the
// thread running the Dial coroutine for Dial. The socket stays netpoll's: the hook must not
// close it or keep it.
using ControlFn = std::function<std::error_code(NativeSocket)>;

// Go's ListenConfig: the options of a listening socket. ListenConfig{} is the free functions'
// behaviour (Listen(loop, ...) is ListenConfig{}.Listen(loop, ...)).
struct ListenConfig {
  // SO_REUSEPORT before bind (IP networks only), so that other sockets setting it too may bind
  // the same address: Linux spreads connections and datagrams over them (same user only);
  // macOS and the BSDs let them share it. Every socket on the address must set it. Windows has
  // no SO_REUSEPORT (its SO_REUSEADDR lets any socket take a port over, so it is not used):
  // there, and on a Unix network everywhere, Listen / ListenPacket fail with
  // std::errc::operation_not_supported without creating a socket.
  bool reuse_port = false;
  // TCP keep-alive on each accepted connection (TCP networks only; ignored for the others):
  // nullopt leaves the OS default (off); 0s turns it off; n > 0 turns it on with n seconds of
  // idle time before the first probe and n seconds between probes (os::set_keep_alive says
  // per OS; the OS bounds n, e.g. Linux refuses more than 32767). Applied best effort on
  // accept, as Go does: a peer that already reset can make the option fail (XNU refuses options
  // on a socket shut both ways), and the connection is still returned. Negative: Listen fails
  // with Errc::invalid_argument.
  std::optional<std::chrono::seconds> keep_alive;
  // Called once with each socket (see ControlFn), before bind.
  ControlFn control;

  // Listen("tcp" | "tcp4" | "tcp6" | "unix" | "unixpacket", "host:port" | ":port" |
  // "[v6]:port" | path). "tcp" on a wildcard address (":p", "[::]:p", "0.0.0.0:p") is dual
  // stack: IPv4 clients arrive as v4-mapped peers. Names are resolved inline here (a setup
  // call); "localhost" is the loopback address without a lookup.
  Result<Listener> Listen(Loop& loop, std::string_view network, std::string_view address) const;
  // ListenPacket("udp" | "udp4" | "udp6" | "unixgram", address). keep_alive does not apply.
  Result<PacketConn> ListenPacket(Loop& loop, std::string_view network, std::string_view address) const;
};

// Go's Dialer: the options of an outgoing connection. Dialer{}.Dial is the free Dial.
struct Dialer {
  // The whole Dial, lookup included (0 = none; negative: Errc::deadline_exceeded at once).
  std::chrono::nanoseconds timeout{0};
  // As ListenConfig::keep_alive, on the connected TCP socket; an error setting it fails the
  // Dial (the connection is closed).
  std::optional<std::chrono::seconds> keep_alive;
  // Called with each socket Dial creates (see ControlFn), before connect: one per address
  // tried, and again for the fresh socket of a retried TCP self-connect.
  ControlFn control;

  // Dial(network, address): resolves names off the Loop thread, tries each address in order
  // within the timeout, detects a TCP self-connect and retries as Go does. The timeout covers
  // the name lookup too: it runs on the resolver pool (netpoll/net/internal/resolver.h, at
  // most 4 threads for the process), and when the deadline passes first Dial returns
  // Errc::deadline_exceeded while the lookup finishes unseen; Loop::shutdown ends the wait with
  // Errc::closed. A lookup's failure to allocate or to get a thread is its error (ENOMEM,
  // EAGAIN). From a plain thread (Dial(...).wait()) the deadline needs the Loop running
  // elsewhere, as every blocking operation does. The Task holds a copy of this Dialer: the
  // Dialer need not outlive it.
  Task<Result<Conn>> Dial(Loop& loop, std::string network, std::string address) const;
};

// ListenConfig{}.Listen, ListenConfig{}.ListenPacket, Dialer{timeout}.Dial.
Result<Listener> Listen(Loop& loop, std::string_view network, std::string_view address);
Result<PacketConn> ListenPacket(Loop& loop, std::string_view network, std::string_view address);
Task<Result<Conn>> Dial(Loop& loop, std::string network, std::string address,
                        std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0});
// Go's FileConn: a Conn around an existing connected socket (TCP, UDP or Unix; another family
// or type is refused with std::errc::wrong_protocol_type). It is made
// nonblocking and close-on-exec and registered; on success the Conn owns the socket. On any
// error (not a socket: ENOTSOCK; a listening socket: EINVAL; a socket this Loop already
// drives, i.e. another Conn's: Errc::already_registered; a registration error) the socket is
// left open and stays the caller's (an error after the mode change leaves it nonblocking and
// close-on-exec). Windows: the socket must have been made overlapped
// (WSA_FLAG_OVERLAPPED), must not be associated with another completion port (an association
// is for life), and a datagram socket must not have FILE_SKIP_COMPLETION_PORT_ON_SUCCESS set
// (netpoll would wait for packets that never come).
Result<Conn> FileConn(Loop& loop, NativeSocket sysfd);

// The addresses `address` names for `network` (blocking: getaddrinfo for names). IP literals
// are parsed strictly (address.h parse_ip; a zone "%eth0" / "%2" becomes the scope id); a host
// that looks like a literal and is not a valid one ("0127.0.0.1", "10.1", "[1:2:3]") is
// AddrErrc::invalid_host and is never looked up. The same holds for Listen, ListenPacket, Dial.
Result<std::vector<SockAddr>> ResolveAddrs(std::string_view network, std::string_view address,
                                           bool passive = false);

// The listen backlog: the kernel's configured cap (Linux: /proc/sys/net/core/somaxconn; macOS,
// FreeBSD: the kern.ipc.somaxconn sysctl) capped at 65535, SOMAXCONN if unreadable. Windows:
// SOMAXCONN (the provider picks its maximum).
int listener_backlog() noexcept;

}  // namespace netpoll::net
