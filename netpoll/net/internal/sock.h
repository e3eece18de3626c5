// The OS socket calls the portable net layer (fd.cc, net.cc) makes: one declaration here, one
// definition per OS (net_posix.cc over the sys_posix hook table, net_windows.cc over Winsock).
// Errors come back as the portable codes (std::errc where POSIX has a name for them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "netpoll/net/address.h"
#include "netpoll/platform/socket.h"
#include "netpoll/net/internal/sockaddr.h"
#include "netpoll/contract/result.h"

namespace netpoll::net::os {

// Before the first Winsock call of the process (idempotent, thread-safe): WSAStartup on
// Windows; nothing on POSIX.
std::error_code startup() noexcept;
// Before a listener's socket: on POSIX the descriptor kept in reserve for EMFILE on accept
// (opened once per process, by the first Listen: only listeners accept); nothing on Windows.
void prepare_listener() noexcept;
// POSIX: accept failed with EMFILE / ENFILE. Accepts and closes the pending clients with the
// reserve descriptor (they see end of stream): true once the queue is empty, so the Accept can
// park for the next client instead of spinning (libuv's answer).
bool shed_pending(int listen_fd) noexcept;
// A socket that the poller can drive (POSIX: nonblocking; Windows: overlapped) and that child
// processes do not inherit.
Result<NativeSocket> open_socket(int family, int type) noexcept;
// After the socket was registered with the Loop's poller (FD::open): Windows chooses there
// whether a call that succeeds at once still queues a completion packet (fd_windows.h).
std::error_code registered(NativeSocket s, bool stream) noexcept;
// Never retried: the descriptor is gone whatever the call returns. Windows: the calls pending
// on it are cancelled first, and each still queues its packet.
void close_socket(NativeSocket s) noexcept;
std::error_code set_int(NativeSocket s, int level, int name, int value) noexcept;
std::error_code bind(NativeSocket s, const SockAddr& a) noexcept;
std::error_code listen(NativeSocket s) noexcept;  // with listener_backlog()
// Options for a listening stream socket before bind: SO_REUSEADDR on POSIX (rebind while old
// connections linger in TIME_WAIT); none on Windows, where SO_REUSEADDR would let another
// socket take the port over.
std::error_code listener_options(NativeSocket s) noexcept;
// TCP keep-alive on a stream socket: `seconds` > 0 turns SO_KEEPALIVE on with that idle time
// before the first probe and that interval between probes (where the OS lets both be set:
// kTcpKeepIdleOption, kTcpKeepIntervalOption; Windows: SIO_KEEPALIVE_VALS); 0 turns it off.
std::error_code set_keep_alive(NativeSocket s, int seconds) noexcept;
std::error_code shutdown(NativeSocket s, int how) noexcept;
Result<SockAddr> local_address(NativeSocket s) noexcept;
Result<SockAddr> peer_address(NativeSocket s) noexcept;
// The socket's pending error (SO_ERROR); an empty code if it has none.
std::error_code pending_error(NativeSocket s) noexcept;
// An IPv6 zone (a scope id) by interface name: if_nametoindex; 0 if no interface has it.
std::uint32_t interface_index(const char* name) noexcept;
// The name of interface `index` (if_indextoname), or "" if there is none.
std::string interface_name(std::uint32_t index);
// Process-wide fork handlers (pthread_atfork on POSIX; nothing on Windows, which has no
// fork): `prepare` runs in the forking thread before fork(), `parent` after it in the parent,
// `child` in the child (whose only thread is the one that forked).
void at_fork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept;
// A getaddrinfo() result code as an error.
std::error_code resolve_error(int gai_result) noexcept;

}  // namespace netpoll::net::os

namespace netpoll::net {
// The Network of a socket of this family and SOCK_* type (FileConn); wrong_protocol_type if
// netpoll has none.
Result<Network> network_of(int family, int type) noexcept;
}  // namespace netpoll::net
