// The Winsock calls the Windows net layer makes, through one table of function pointers (as
// netpoll/net/internal/sys_posix.h on POSIX): a test swaps an entry to inject a WSA error at an exact point.
//
// Every entry behaves as the Winsock function: on failure it returns SOCKET_ERROR (or
// INVALID_SOCKET, or FALSE) and WSAGetLastError() says why. accept_ex and connect_ex reach
// the extension functions WSAIoctl returns (looked up once; WSAEOPNOTSUPP if the provider has
// none). The table is read on every call and written only by tests, while no operation is in
// flight; HookGuard restores it.
#pragma once

#include "netpoll/platform/socket.h"
#include "netpoll/net/internal/table_guard.h"

namespace netpoll::net {

struct SysHooks {
  SOCKET(WSAAPI* wsa_socket)(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g,
                             DWORD flags);
  int(WSAAPI* closesocket)(SOCKET s);
  int(WSAAPI* bind)(SOCKET s, const sockaddr* addr, int len);
  int(WSAAPI* listen)(SOCKET s, int backlog);
  int(WSAAPI* connect)(SOCKET s, const sockaddr* addr, int len);
  int(WSAAPI* setsockopt)(SOCKET s, int level, int name, const char* val, int len);
  int(WSAAPI* getsockopt)(SOCKET s, int level, int name, char* val, int* len);
  int(WSAAPI* getsockname)(SOCKET s, sockaddr* addr, int* len);
  int(WSAAPI* getpeername)(SOCKET s, sockaddr* addr, int* len);
  int(WSAAPI* shutdown)(SOCKET s, int how);
  int(WSAAPI* wsa_recv)(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD bytes, LPDWORD flags,
                        LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
  int(WSAAPI* wsa_send)(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD bytes, DWORD flags,
                        LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
  int(WSAAPI* wsa_recv_from)(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD bytes, LPDWORD flags,
                             sockaddr* from, LPINT from_len, LPWSAOVERLAPPED ov,
                             LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
  int(WSAAPI* wsa_send_to)(SOCKET s, LPWSABUF bufs, DWORD n, LPDWORD bytes, DWORD flags,
                           const sockaddr* to, int to_len, LPWSAOVERLAPPED ov,
                           LPWSAOVERLAPPED_COMPLETION_ROUTINE done);
  BOOL (*accept_ex)(SOCKET listener, SOCKET accepted, PVOID buf, DWORD recv_len,
                    DWORD local_len, DWORD remote_len, LPDWORD bytes, LPOVERLAPPED ov);
  BOOL (*connect_ex)(SOCKET s, const sockaddr* to, int len, PVOID buf, DWORD send_len,
                     LPDWORD bytes, LPOVERLAPPED ov);
};

// The live table. Defaults are the Winsock functions.
extern SysHooks sys;
// The Winsock functions, for a hook that wants to call through.
extern const SysHooks kRealSys;

// The addresses AcceptEx wrote into `buf` (GetAcceptExSockaddrs; not a hook: it cannot fail).
void accept_ex_addresses(SOCKET listener, PVOID buf, DWORD local_len, DWORD remote_len,
                         sockaddr** local, INT* local_size, sockaddr** remote,
                         INT* remote_size) noexcept;

// Restores the whole table when it goes out of scope.
class HookGuard : public TableGuard<SysHooks> {
 public:
  HookGuard() noexcept : TableGuard(sys) {}
};

}  // namespace netpoll::net
