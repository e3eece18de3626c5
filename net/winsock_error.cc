#include "net/winsock_error.h"

#include <winsock2.h>
#include <windows.h>

namespace netpoll::net {
namespace {

struct Mapping {
  std::uint32_t win;
  std::errc posix;
};

// Overlapped socket calls report NT statuses turned into Win32 codes (ERROR_*), the
// synchronous ones WSA* codes: both spellings of one condition map to the same errc.
constexpr Mapping kMap[] = {
    {WSAEINTR, std::errc::interrupted},
    {WSAEBADF, std::errc::bad_file_descriptor},
    {ERROR_INVALID_HANDLE, std::errc::bad_file_descriptor},
    {WSAEACCES, std::errc::permission_denied},
    {ERROR_ACCESS_DENIED, std::errc::permission_denied},
    {WSAEFAULT, std::errc::bad_address},
    {WSAEINVAL, std::errc::invalid_argument},
    {ERROR_INVALID_PARAMETER, std::errc::invalid_argument},
    {WSAEMFILE, std::errc::too_many_files_open},
    {ERROR_TOO_MANY_OPEN_FILES, std::errc::too_many_files_open},
    {WSAEWOULDBLOCK, std::errc::operation_would_block},
    {WSAEINPROGRESS, std::errc::operation_in_progress},
    {WSAEALREADY, std::errc::connection_already_in_progress},
    {WSAENOTSOCK, std::errc::not_a_socket},
    {WSAEDESTADDRREQ, std::errc::destination_address_required},
    {WSAEMSGSIZE, std::errc::message_size},
    {ERROR_MORE_DATA, std::errc::message_size},  // a datagram longer than the buffer
    {WSAEPROTOTYPE, std::errc::wrong_protocol_type},
    {WSAENOPROTOOPT, std::errc::no_protocol_option},
    {WSAEPROTONOSUPPORT, std::errc::protocol_not_supported},
    {WSAEOPNOTSUPP, std::errc::operation_not_supported},
    {WSAEAFNOSUPPORT, std::errc::address_family_not_supported},
    {WSAEADDRINUSE, std::errc::address_in_use},
    {WSAEADDRNOTAVAIL, std::errc::address_not_available},
    {WSAENETDOWN, std::errc::network_down},
    {WSAENETUNREACH, std::errc::network_unreachable},
    {ERROR_NETWORK_UNREACHABLE, std::errc::network_unreachable},
    {WSAENETRESET, std::errc::network_reset},
    {WSAECONNABORTED, std::errc::connection_aborted},
    {ERROR_CONNECTION_ABORTED, std::errc::connection_aborted},
    {ERROR_REQUEST_ABORTED, std::errc::connection_aborted},
    {WSAECONNRESET, std::errc::connection_reset},
    {ERROR_NETNAME_DELETED, std::errc::connection_reset},  // the peer reset, seen on IOCP
    {WSAENOBUFS, std::errc::no_buffer_space},
    {WSAEISCONN, std::errc::already_connected},
    {WSAENOTCONN, std::errc::not_connected},
    {WSAESHUTDOWN, std::errc::broken_pipe},  // send after shutdown: EPIPE on POSIX
    {ERROR_BROKEN_PIPE, std::errc::broken_pipe},
    {WSAETIMEDOUT, std::errc::timed_out},
    {ERROR_SEM_TIMEOUT, std::errc::timed_out},
    {WSAECONNREFUSED, std::errc::connection_refused},
    {ERROR_CONNECTION_REFUSED, std::errc::connection_refused},
    {ERROR_PORT_UNREACHABLE, std::errc::connection_refused},  // UDP: ECONNREFUSED on Linux
    {WSAEHOSTUNREACH, std::errc::host_unreachable},
    {ERROR_HOST_UNREACHABLE, std::errc::host_unreachable},
    {ERROR_NOT_ENOUGH_MEMORY, std::errc::not_enough_memory},
    {ERROR_OUTOFMEMORY, std::errc::not_enough_memory},
    {ERROR_OPERATION_ABORTED, std::errc::operation_canceled},  // CancelIoEx
};

}  // namespace

std::error_code winsock_error(std::uint32_t err) noexcept {
  if (err == 0) return {};
  for (const Mapping& m : kMap)
    if (m.win == err) return std::make_error_code(m.posix);
  return {static_cast<int>(err), std::system_category()};
}

}  // namespace netpoll::net
