#include "netpoll/net/net.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "netpoll/net/internal/resolver.h"
#include "netpoll/net/internal/sock.h"
#include "netpoll/contract/error.h"

namespace netpoll::net {

// --- Socket ----------------------------------------------------------------------------------------

Socket::Socket(Socket&& o) noexcept
    : fd_(std::exchange(o.fd_, nullptr)), laddr_(std::move(o.laddr_)), net_(o.net_),
      unlink_on_close_(std::exchange(o.unlink_on_close_, false)) {}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = std::exchange(o.fd_, nullptr);
    net_ = o.net_;
    laddr_ = std::move(o.laddr_);
    unlink_on_close_ = std::exchange(o.unlink_on_close_, false);
  }
  return *this;
}

Socket::~Socket() { reset(); }

void Socket::reset() noexcept {
  if (!fd_) return;
  (void)Close();  // Errc::closed if the owner closed it already
  fd_->release();
  fd_ = nullptr;
}

std::error_code Socket::Close() noexcept {
  if (!fd_) return Errc::closed;
  std::error_code ec = fd_->close();
  // After the close (its address is free again before the file goes), once: a second Close
  // returns Errc::closed having found the flag cleared.
  if (unlink_on_close_ && ec != Errc::closed) {
    unlink_on_close_ = false;
    std::remove(laddr_.get().to_string().c_str());
  }
  return ec;
}

std::error_code Socket::SetDeadline(TimePoint t) noexcept {
  if (!fd_) return Errc::closed;
  return fd_->set_deadline(to_ns(t), kReadWrite);
}
std::error_code Socket::SetReadDeadline(TimePoint t) noexcept {
  if (!fd_) return Errc::closed;
  return fd_->set_deadline(to_ns(t), kRead);
}
std::error_code Socket::SetWriteDeadline(TimePoint t) noexcept {
  if (!fd_) return Errc::closed;
  return fd_->set_deadline(to_ns(t), kWrite);
}

std::error_code Conn::CloseWrite() noexcept {
  if (!fd_) return Errc::closed;
  return fd_->shutdown(kShutWrite);
}
std::error_code Conn::CloseRead() noexcept {
  if (!fd_) return Errc::closed;
  return fd_->shutdown(kShutRead);
}
std::error_code Conn::SetNoDelay(bool on) noexcept {
  if (!fd_) return Errc::closed;
  return fd_->setsockopt_int(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

// --- sockets (Go's sysSocket, setDefaultSockopts, ...) --------------------------------------------

namespace {
bool is_tcp(Network n) noexcept { return n == Network::tcp || n == Network::tcp4 || n == Network::tcp6; }
bool is_udp(Network n) noexcept { return n == Network::udp || n == Network::udp4 || n == Network::udp6; }

int sock_type(Network n) noexcept {
  switch (n) {
    case Network::udp:
    case Network::udp4:
    case Network::udp6:
    case Network::unix_dgram: return SOCK_DGRAM;
    case Network::unix_seqpacket: return SOCK_SEQPACKET;
    default: return SOCK_STREAM;
  }
}

std::error_code set_int(NativeSocket s, int level, int name, int v) noexcept {
  return os::set_int(s, level, name, v);
}

// Go's setDefaultSockopts: IPV6_V6ONLY as the family choice decided; broadcast for UDP.
std::error_code default_sockopts(int s, int family, Network n, bool v6only) noexcept {
  if (family == AF_INET6)
    if (auto ec = set_int(s, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? 1 : 0)) return ec;
  if (is_udp(n) && family != AF_UNIX)
    if (auto ec = set_int(s, SOL_SOCKET, SO_BROADCAST, 1)) return ec;
  return {};
}

struct Plan {
  SockAddr addr;
  int family;
  bool v6only;
};

// Go's favoriteAddrFamily for a listener: a wildcard on "tcp"/"udp" becomes an IPv6 socket
// accepting IPv4 too (v6only off); "tcp6" is v6-only; otherwise the address decides.
Plan listen_plan(Network n, const SockAddr& a) noexcept {
  if (a.family() == AF_UNIX) return {a, AF_UNIX, false};
  const bool any_family = n == Network::tcp || n == Network::udp;
  if (any_family && a.is_wildcard()) {
    Result<SockAddr> v6 = SockAddr::ip("", a.port(), AF_INET6);
    return {*v6, AF_INET6, false};
  }
  return {a, a.family(), n == Network::tcp6 || n == Network::udp6};
}

// What a ListenConfig or Dialer asks of each socket before bind / connect.
struct SocketOptions {
  bool reuse_port = false;
  const ControlFn* control = nullptr;  // null or empty: no hook
};

// The caller's hook; an exception from it is an error value here (the socket is closed by the
// caller either way), since everything below is noexcept.
std::error_code run_control(const ControlFn* control, NativeSocket s) noexcept {
  if (!control || !*control) return {};
  try {
    return (*control)(s);
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    return Errc::invalid_argument;
  }
}

// Seconds for os::set_keep_alive, or -1 for "not asked". Negative durations were refused
// before any socket was made (keep_alive_error).
int keep_alive_seconds(const std::optional<std::chrono::seconds>& k) noexcept {
  if (!k) return -1;
  return k->count() > INT_MAX ? INT_MAX : static_cast<int>(k->count());
}
std::error_code keep_alive_error(const std::optional<std::chrono::seconds>& k) noexcept {
  return k && k->count() < 0 ? std::error_code(Errc::invalid_argument) : std::error_code();
}

// Creates, configures, binds (and for streams listens) one socket; returns it registered.
Result<FD*> bind_socket(Loop& loop, Network n, const Plan& p, bool listen,
                        const SocketOptions& o) noexcept {
  Result<NativeSocket> s = os::open_socket(p.family, sock_type(n));
  if (!s) return s.error();
  auto fail = [&](std::error_code ec) -> Result<FD*> {
    os::close_socket(*s);
    return ec;
  };
  const bool stream_listener = listen && sock_type(n) != SOCK_DGRAM;
  if (auto ec = default_sockopts(*s, p.family, n, p.v6only)) return fail(ec);
  if (stream_listener && p.family != AF_UNIX)
    if (auto ec = os::listener_options(*s)) return fail(ec);
  // (kReusePortOption != 0 here: reuse_port_error refused the request otherwise.)
  if (o.reuse_port)
    if (auto ec = set_int(*s, SOL_SOCKET, kReusePortOption, 1)) return fail(ec);
  if (auto ec = run_control(o.control, *s)) return fail(ec);
  if (auto ec = os::bind(*s, p.addr)) return fail(ec);
  if (stream_listener)
    if (auto ec = os::listen(*s)) return fail(ec);
  return FD::open(loop, *s, sock_type(n) == SOCK_STREAM);
}

// reuse_port where it cannot mean anything: an OS without SO_REUSEPORT (Windows), or a Unix
// socket (a path is bound once). Refused before a socket exists.
std::error_code reuse_port_error(bool reuse_port, Network n) noexcept {
  if (!reuse_port) return {};
  if (kReusePortOption == 0 || is_unix(n)) return std::make_error_code(std::errc::operation_not_supported);
  return {};
}

// Without getsockname, a socket bound to port 0 has an address nobody knows: Listen reports
// the error rather than a listener whose Addr() says port 0 (the requested address is right
// otherwise, so it stands in).
bool unknown_port(const Plan& p) noexcept { return p.family != AF_UNIX && p.addr.port() == 0; }
std::error_code release_with(FD* fd, std::error_code ec) noexcept {
  fd->release();
  return ec;
}

bool is_loopback_name(std::string_view h) noexcept { return h == "localhost"; }
bool all_alpha(std::string_view s) noexcept {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-')) return false;
  return !s.empty();
}

int family_of(Network n) noexcept {
  if (n == Network::tcp4 || n == Network::udp4) return AF_INET;
  if (n == Network::tcp6 || n == Network::udp6) return AF_INET6;
  return AF_UNSPEC;
}
}  // namespace

Result<Network> network_of(int family, int type) noexcept {
  if (family == AF_UNIX) {
    if (type == SOCK_STREAM) return Network::unix_stream;
    if (type == SOCK_DGRAM) return Network::unix_dgram;
    if (type == SOCK_SEQPACKET) return Network::unix_seqpacket;
  } else if (family == AF_INET || family == AF_INET6) {
    const bool v4 = family == AF_INET;
    if (type == SOCK_STREAM) return v4 ? Network::tcp4 : Network::tcp6;
    if (type == SOCK_DGRAM) return v4 ? Network::udp4 : Network::udp6;
  }
  return std::make_error_code(std::errc::wrong_protocol_type);
}

namespace {

// The addresses of a host that needs no lookup (empty: the wildcard; "localhost"; an IP
// literal), or nullopt for a host name. `host` has passed check_host.
std::optional<Addrs> literal_addrs(Network n, std::string_view host, std::uint16_t port) {
  const int want = family_of(n);
  std::vector<SockAddr> out;
  if (host.empty()) {
    out.push_back(*SockAddr::ip("", port, want == AF_INET6 ? AF_INET6 : AF_INET));
  } else if (is_loopback_name(host)) {
    if (want != AF_INET6) out.push_back(*SockAddr::ip("127.0.0.1", port, AF_INET));
    if (want != AF_INET) out.push_back(*SockAddr::ip("::1", port, AF_INET6));
  } else if (looks_like_ip_literal(host)) {
    const bool v4 = parse_ip(host)->v4;
    if (want == (v4 ? AF_INET6 : AF_INET)) return Addrs(AddrErrc::no_suitable_address);
    Result<SockAddr> a = SockAddr::ip(host, port, v4 ? AF_INET : AF_INET6);
    if (!a) return Addrs(a.error());  // an unknown zone
    out.push_back(*a);
  } else {
    return std::nullopt;
  }
  return Addrs(std::move(out));
}

// A host is a name only if it cannot have been meant as an IP literal: one that looks like a
// literal and is not a valid one never reaches getaddrinfo (which would read "0127.0.0.1" as
// 87.0.0.1 and "10.1" as 10.0.0.1). Neither may a host with a NUL (getaddrinfo would see
// only the part before it).
std::error_code check_host(std::string_view host) noexcept {
  if (host.find('\0') != std::string_view::npos) return AddrErrc::invalid_host;
  if (looks_like_ip_literal(host) && !parse_ip(host)) return AddrErrc::invalid_host;
  return {};
}

// Everything that needs no resolver: Unix paths, literals, the wildcard, "localhost", and
// malformed input. nullopt when only a lookup can answer (a host or a service name).
std::optional<Addrs> resolve_without_lookup(std::string_view network, std::string_view address) {
  Result<Network> n = parse_network(network);
  if (!n) return Addrs(n.error());
  if (is_unix(*n)) {
    Result<SockAddr> a = SockAddr::unix_path(address);
    if (!a) return Addrs(a.error());
    return Addrs(std::vector<SockAddr>{*a});
  }
  Result<HostPort> hp = split_host_port(address);
  if (!hp) return Addrs(hp.error());
  if (auto ec = check_host(hp->host)) return Addrs(ec);
  Result<std::uint16_t> port = parse_port(hp->port);
  if (!port) {
    if (!all_alpha(hp->port)) return Addrs(port.error());
    return std::nullopt;  // a service name ("http")
  }
  return literal_addrs(*n, hp->host, *port);
}

// A service name's port (getaddrinfo with no host reads only the services database).
Result<std::uint16_t> service_port(Network n, const std::string& service) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = sock_type(n);
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int r = ::getaddrinfo(nullptr, service.c_str(), &hints, &res);
  if (r != 0) return os::resolve_error(r);
  const std::uint16_t port = SockAddr::from(res->ai_addr, res->ai_addrlen).port();
  ::freeaddrinfo(res);
  return port;
}

// getaddrinfo, for what resolve_without_lookup could not answer (the input is well-formed).
// A host that needs no lookup (a literal, with a service name for the port) is never given to
// getaddrinfo: only its service is.
Addrs lookup(std::string_view network, std::string_view address, bool passive) {
  if (LookupFn hook = ResolverPool::hooks().lookup.load()) return hook(network, address, passive);
  const Network n = *parse_network(network);
  const HostPort hp = *split_host_port(address);
  if (auto ec = os::startup()) return ec;
  const std::string service(hp.port.empty() ? "0" : std::string(hp.port));
  if (std::optional<Addrs> none = literal_addrs(n, hp.host, 0)) {
    if (!*none) return std::move(*none);
    Result<std::uint16_t> port = service_port(n, service);
    if (!port) return port.error();
    return *literal_addrs(n, hp.host, *port);
  }
  addrinfo hints{};
  hints.ai_family = family_of(n);
  hints.ai_socktype = sock_type(n);
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  const std::string host(hp.host);
  const int r = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (r != 0) return os::resolve_error(r);
  std::vector<SockAddr> out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
      out.push_back(SockAddr::from(ai->ai_addr, ai->ai_addrlen));
  ::freeaddrinfo(res);
  if (out.empty()) return AddrErrc::no_suitable_address;
  return out;
}
}  // namespace

Result<std::vector<SockAddr>> ResolveAddrs(std::string_view network, std::string_view address,
                                           bool passive) {
  if (std::optional<Addrs> a = resolve_without_lookup(network, address)) return std::move(*a);
  return lookup(network, address, passive);
}

Result<Listener> ListenConfig::Listen(Loop& loop, std::string_view network,
                                      std::string_view address) const {
  Result<Network> n = parse_network(network);
  if (!n) return n.error();
  if (!is_stream(*n)) return AddrErrc::wrong_network_for_call;
  if (auto ec = reuse_port_error(reuse_port, *n)) return ec;
  if (auto ec = keep_alive_error(keep_alive)) return ec;
  Result<std::vector<SockAddr>> addrs = ResolveAddrs(network, address, true);
  if (!addrs) return addrs.error();
  os::prepare_listener();
  const SocketOptions o{reuse_port, &control};
  Plan p = listen_plan(*n, addrs->front());
  Result<FD*> fd = bind_socket(loop, *n, p, true, o);
  // No socket was made (so the hook did not run): the retry is the first socket.
  if (!fd && p.family == AF_INET6 && (*n == Network::tcp) && fd.error() == std::errc::address_family_not_supported) {
    p = Plan{*SockAddr::ip("", addrs->front().port(), AF_INET), AF_INET, false};  // no IPv6 here
    fd = bind_socket(loop, *n, p, true, o);
  }
  if (!fd) return fd.error();
  Result<SockAddr> local = (*fd)->sockname();
  if (!local && unknown_port(p)) return release_with(*fd, local.error());
  const bool unlink = p.family == AF_UNIX && !(kAbstractUnixNames && address[0] == '@');
  const SockAddr& bound = local ? *local : p.addr;
  Result<PackedAddr> packed = PackedAddr::from(bound);
  if (!packed) {
    (void)release_with(*fd, packed.error());
    if (unlink) std::remove(bound.to_string().c_str());  // bind made it: nobody else will
    return packed.error();
  }
  Listener l(*fd, *n, std::move(*packed), bound.family(), bound.is_wildcard() || bound.empty());
  l.unlink_on_close_ = unlink;
  if (is_tcp(*n)) l.keep_alive_s_ = keep_alive_seconds(keep_alive);
  return l;
}

Result<PacketConn> ListenConfig::ListenPacket(Loop& loop, std::string_view network,
                                              std::string_view address) const {
  Result<Network> n = parse_network(network);
  if (!n) return n.error();
  if (is_stream(*n) || *n == Network::unix_seqpacket) return AddrErrc::wrong_network_for_call;
  if (auto ec = reuse_port_error(reuse_port, *n)) return ec;
  Result<std::vector<SockAddr>> addrs = ResolveAddrs(network, address, true);
  if (!addrs) return addrs.error();
  const Plan p = listen_plan(*n, addrs->front());
  Result<FD*> fd = bind_socket(loop, *n, p, false, SocketOptions{reuse_port, &control});
  if (!fd) return fd.error();
  Result<SockAddr> local = (*fd)->sockname();
  if (!local && unknown_port(p)) return release_with(*fd, local.error());
  Result<PackedAddr> packed = PackedAddr::from(local ? *local : p.addr);
  if (!packed) return release_with(*fd, packed.error());
  return PacketConn(*fd, *n, std::move(*packed));
}

Result<Listener> Listen(Loop& loop, std::string_view network, std::string_view address) {
  return ListenConfig{}.Listen(loop, network, address);
}
Result<PacketConn> ListenPacket(Loop& loop, std::string_view network, std::string_view address) {
  return ListenConfig{}.ListenPacket(loop, network, address);
}

Result<Conn> AcceptConnOp::result() noexcept {
  Result<Accepted> a = inner_.result();
  if (!a) return a.error();
  const NativeSocket s = a->sysfd;
  if (is_tcp(net_)) set_int(s, IPPROTO_TCP, TCP_NODELAY, 1);  // Go's default; best effort
  if (keep_alive_s_ >= 0) (void)os::set_keep_alive(s, keep_alive_s_);  // best effort (net.h)
  // The addresses first, so that a failure (ENOMEM for a long Unix peer name) closes the
  // accepted socket without an FD to unwind.
  Result<PackedAddr> peer = PackedAddr::from(a->peer);
  Result<PackedAddr> local = listener_addr_;
  if (peer && wildcard_) {
    Result<SockAddr> l = os::local_address(s);
    local = PackedAddr::from(l ? *l : SockAddr());
  }
  if (!peer || !local) {
    os::close_socket(s);
    return peer ? local.error() : peer.error();
  }
  Result<FD*> fd = FD::open(*inner_.loop(), s, true);
  if (!fd) return fd.error();
  return Conn(*fd, net_, std::move(*local), std::move(*peer));
}

// --- Dial -----------------------------------------------------------------------------------------

namespace {
// A name lookup on the resolver pool (netpoll/net/internal/resolver.h), waited for by a coroutine on `loop`
// or by a plain thread while `loop` runs. The wait ends at the first of: the lookup finishes;
// `deadline` (the Dial's, on the Loop's timers) passes: Errc::deadline_exceeded; the Loop
// shuts down: Errc::closed. The lookup itself runs on regardless and its result is dropped.
class ResolveOp {
 public:
  ResolveOp(Loop& loop, std::string_view network, std::string_view address, std::int64_t deadline)
      : loop_(&loop), network_(network), address_(address), deadline_(deadline) {}
  ResolveOp(const ResolveOp&) = delete;
  ResolveOp& operator=(const ResolveOp&) = delete;
  // A frame destroyed mid-wait leaves nothing that points at it.
  ~ResolveOp() { release(); }

  bool step(Waiter* w) noexcept {
    if (!started_) {
      started_ = true;
      if (start(w)) return false;
    }
    if (lookup_) res_ = lookup_->take();
    release();
    return true;
  }
  Addrs result() noexcept { return std::move(res_); }
  Addrs fail_on_loop_thread() noexcept { return Errc::would_deadlock; }
  Loop* loop() const noexcept { return loop_; }

 private:
  // True when parked on `w`; false when the outcome is known already (in res_, or lookup_'s).
  bool start(Waiter* w) noexcept {
    const std::error_code no_memory = std::make_error_code(std::errc::not_enough_memory);
    // A plain thread that steps the Loop itself (an embedding host) would wait for a timer
    // and a shutdown only it can run: refused, as Operation::wait refuses.
    if (!Loop::current() && Loop::stepped_by_this_thread(loop_)) return fail(Errc::would_deadlock);
    if (deadline_ != 0 && deadline_ <= now_ns()) return fail(Errc::deadline_exceeded);
    try {
      lookup_ = std::make_shared<Lookup>(&lookup, network_, address_, false);
    } catch (...) {  // std::bad_alloc
      return fail(no_memory);
    }
    wait_.cancel = &cancelled;
    wait_.ctx = this;
    if (!loop_->add_cancellable(&wait_)) return fail(Errc::closed);
    if (deadline_ != 0) {
      lookup_->deadline.timer.fire = &expired;
      lookup_->timer_ref = lookup_;
      try {
        loop_->netpoll().schedule_timer(&lookup_->deadline.timer, deadline_);
        armed_ = true;
      } catch (...) {  // the timer heap could not grow
        lookup_->timer_ref.reset();
        return fail(no_memory);
      }
    }
    if (std::error_code ec = ResolverPool::instance().submit(lookup_)) return fail(ec);
    return lookup_->park(w);
  }
  bool fail(std::error_code ec) noexcept {
    release();
    res_ = ec;
    return false;
  }

  // Unregisters from the Loop, stops the timer, and leaves the lookup (if it still runs, its
  // result goes nowhere).
  void release() noexcept {
    if (!lookup_) return;
    loop_->remove_cancellable(&wait_);
    // A cancel that dequeued the timer drops its reference; otherwise the firing does.
    if (armed_ && loop_->netpoll().cancel_timer(&lookup_->deadline.timer)) lookup_->timer_ref.reset();
    armed_ = false;
    (void)lookup_->give_up(Errc::closed);  // no-op once decided; else nobody is woken later
    lookup_.reset();
  }

  // Loop::shutdown / ~Loop, under the Loop's wait list lock (so *this is alive).
  static void cancelled(Loop::CancellableWait* cw) noexcept {
    auto* self = static_cast<ResolveOp*>(cw->ctx);
    if (Waiter* w = self->lookup_->give_up(Errc::closed)) w->notify();
  }
  // The deadline, on the Loop's polling thread.
  static void expired(Timer* t, std::uint32_t, WaiterList& ready) noexcept {
    Lookup* l = reinterpret_cast<Lookup::DeadlineTimer*>(t)->owner;
    const std::shared_ptr<Lookup> keep = std::move(l->timer_ref);  // released as the last touch
    if (Waiter* w = l->give_up(Errc::deadline_exceeded)) ready.push(w);
  }

  Loop* loop_;
  std::string network_, address_;
  std::int64_t deadline_;
  std::shared_ptr<Lookup> lookup_;
  Loop::CancellableWait wait_;
  Addrs res_{Errc::invalid_argument};
  bool started_ = false;
  bool armed_ = false;
};

bool same_endpoint(const SockAddr& a, const SockAddr& b) noexcept {
  return a.family() == b.family() && a.port() == b.port() && a.to_string() == b.to_string();
}

// `d` is the Dial's own copy (in dial_task's frame), alive for the whole of this call.
Task<Result<Conn>> dial_one(Loop& loop, Network n, SockAddr to, std::int64_t deadline, const Dialer& d) {
  // Go retries a self-connect (local == remote, possible on loopback with an ephemeral port
  // equal to the target) twice with a fresh socket.
  for (int attempt = 0;; ++attempt) {
    Result<NativeSocket> s = os::open_socket(to.family(), sock_type(n));
    if (!s) co_return s.error();
    std::error_code prep = default_sockopts(*s, to.family(), n, false);
    if (!prep) prep = run_control(&d.control, *s);
    if (prep) {
      os::close_socket(*s);
      co_return prep;
    }
    Result<FD*> opened = FD::open(loop, *s, sock_type(n) == SOCK_STREAM);
    if (!opened) co_return opened.error();
    FD* fd = *opened;
    struct Owner {  // closes and releases fd on every early return
      FD* fd;
      ~Owner() {
        if (fd) fd->release();
      }
    } owner{fd};
    if (deadline)
      if (auto ec = fd->set_deadline(deadline, kWrite)) co_return ec;  // ENOMEM: no timeout
    Result<bool> ok = co_await Operation<ConnectOp>(fd, to);
    if (!ok) co_return ok.error();
    if (deadline) fd->set_deadline(0, kWrite);
    // The connect succeeded (ConnectOp confirmed it). A peer that reset at once makes
    // getpeername fail with ENOTCONN: as Go, the connection is still returned (its first read
    // reports the reset), with the address dialed as its remote one.
    Result<SockAddr> local = fd->sockname();
    Result<SockAddr> peer = fd->peername();
    const SockAddr remote = peer ? *peer : to;
    if (is_tcp(n) && local && same_endpoint(*local, remote)) {
      if (attempt < 2) continue;
      co_return std::make_error_code(std::errc::connection_refused);
    }
    if (is_tcp(n)) fd->setsockopt_int(IPPROTO_TCP, TCP_NODELAY, 1);
    if (is_tcp(n) && d.keep_alive)
      if (auto ec = fd->set_keep_alive(keep_alive_seconds(d.keep_alive))) co_return ec;
    Result<PackedAddr> plocal = PackedAddr::from(local ? *local : SockAddr());
    Result<PackedAddr> premote = PackedAddr::from(remote);
    if (!plocal) co_return plocal.error();
    if (!premote) co_return premote.error();
    owner.fd = nullptr;
    co_return Conn(fd, n, std::move(*plocal), std::move(*premote));
  }
}
}  // namespace

namespace {
// The Dial coroutine. Its parameters live in its frame, so the Task owns its Dialer (hook
// included) and strings whatever becomes of the caller's.
Task<Result<Conn>> dial_task(Loop& loop, Dialer d, std::string network, std::string address) {
  Result<Network> n = parse_network(network);
  if (!n) co_return n.error();
  if (d.timeout.count() < 0) co_return Errc::deadline_exceeded;
  if (auto ec = keep_alive_error(d.keep_alive)) co_return ec;
  const std::int64_t deadline =
      d.timeout.count() == 0 ? 0 : now_ns() + std::min<std::int64_t>(d.timeout.count(), INT64_MAX / 2);
  // (Not a ?: with co_await in one arm: GCC 12 mis-handles the temporaries' lifetimes.)
  Result<std::vector<SockAddr>> addrs{Errc::invalid_argument};
  if (std::optional<Addrs> literal = resolve_without_lookup(network, address)) addrs = std::move(*literal);
  else addrs = co_await Operation<ResolveOp>(loop, network, address, deadline);
  if (!addrs) co_return addrs.error();
  std::error_code first;
  for (const SockAddr& a : *addrs) {
    Result<Conn> c = co_await dial_one(loop, *n, a, deadline, d);
    if (c) co_return c;
    if (!first) first = c.error();
    if (c.error() == Errc::deadline_exceeded) break;
  }
  co_return first;
}
}  // namespace

Task<Result<Conn>> Dialer::Dial(Loop& loop, std::string network, std::string address) const {
  return dial_task(loop, *this, std::move(network), std::move(address));
}

Task<Result<Conn>> Dial(Loop& loop, std::string network, std::string address,
                        std::chrono::nanoseconds timeout) {
  return dial_task(loop, Dialer{timeout, std::nullopt, {}}, std::move(network), std::move(address));
}

}  // namespace netpoll::net
