#include "netpoll/net/internal/sys_windows.h"

#include <atomic>

namespace netpoll::net {
namespace {

// The Winsock extension functions, looked up once per process (they are the same for every
// TCP socket of the default provider). A failed lookup is not remembered: the next call tries
// again.
template <class Fn>
Fn extension(std::atomic<Fn>& cache, SOCKET s, GUID id) noexcept {
  Fn fn = cache.load(std::memory_order_acquire);
  if (fn) return fn;
  DWORD n = 0;
  if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn, sizeof fn, &n,
               nullptr, nullptr) != 0)
    return nullptr;
  cache.store(fn, std::memory_order_release);
  return fn;
}

std::atomic<LPFN_ACCEPTEX> g_accept_ex{nullptr};
std::atomic<LPFN_GETACCEPTEXSOCKADDRS> g_get_accept_ex_sockaddrs{nullptr};
std::atomic<LPFN_CONNECTEX> g_connect_ex{nullptr};

BOOL accept_ex(SOCKET ln, SOCKET s, PVOID buf, DWORD recv_len, DWORD local_len,
               DWORD remote_len, LPDWORD bytes, LPOVERLAPPED ov) {
  LPFN_ACCEPTEX fn = extension(g_accept_ex, ln, WSAID_ACCEPTEX);
  // accept_ex_addresses needs its partner: resolve both before the first accept.
  if (!fn || !extension(g_get_accept_ex_sockaddrs, ln, WSAID_GETACCEPTEXSOCKADDRS)) {
    WSASetLastError(WSAEOPNOTSUPP);
    return FALSE;
  }
  return fn(ln, s, buf, recv_len, local_len, remote_len, bytes, ov);
}

BOOL connect_ex(SOCKET s, const sockaddr* to, int len, PVOID buf, DWORD send_len, LPDWORD bytes,
                LPOVERLAPPED ov) {
  LPFN_CONNECTEX fn = extension(g_connect_ex, s, WSAID_CONNECTEX);
  if (!fn) {
    WSASetLastError(WSAEOPNOTSUPP);
    return FALSE;
  }
  return fn(s, to, len, buf, send_len, bytes, ov);
}

}  // namespace

void accept_ex_addresses(SOCKET ln, PVOID buf, DWORD local_len, DWORD remote_len,
                         sockaddr** local, INT* local_size, sockaddr** remote,
                         INT* remote_size) noexcept {
  // Resolved by the accept_ex that produced `buf`.
  LPFN_GETACCEPTEXSOCKADDRS fn = extension(g_get_accept_ex_sockaddrs, ln, WSAID_GETACCEPTEXSOCKADDRS);
  if (fn) fn(buf, 0, local_len, remote_len, local, local_size, remote, remote_size);
}

const SysHooks kRealSys = {
    ::WSASocketW, ::closesocket, ::bind,        ::listen,      ::connect,
    ::setsockopt, ::getsockopt,  ::getsockname, ::getpeername, ::shutdown,
    ::WSARecv,    ::WSASend,     ::WSARecvFrom, ::WSASendTo,   accept_ex,
    connect_ex,
};

SysHooks sys = kRealSys;

}  // namespace netpoll::net
