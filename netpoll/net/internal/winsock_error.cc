#include "netpoll/net/internal/winsock_error.h"

#include <winsock2.h>
#include <windows.h>

#include <string>

namespace netpoll::net {
namespace {

struct Mapping {
  std::uint32_t win;
  std::errc posix;
  const char* text;  // as POSIX systems word it: the same message on every OS
};

// Overlapped socket calls report NT statuses turned into Win32 codes (ERROR_*), the
// synchronous ones WSA* codes: both spellings of one condition map to the same errc.
constexpr Mapping kMap[] = {
    {WSAEINTR, std::errc::interrupted, "Interrupted function call"},
    {WSAEBADF, std::errc::bad_file_descriptor, "Bad file descriptor"},
    {ERROR_INVALID_HANDLE, std::errc::bad_file_descriptor, "Bad file descriptor"},
    {WSAEACCES, std::errc::permission_denied, "Permission denied"},
    {ERROR_ACCESS_DENIED, std::errc::permission_denied, "Permission denied"},
    {WSAEFAULT, std::errc::bad_address, "Bad address"},
    {WSAEINVAL, std::errc::invalid_argument, "Invalid argument"},
    {ERROR_INVALID_PARAMETER, std::errc::invalid_argument, "Invalid argument"},
    {WSAEMFILE, std::errc::too_many_files_open, "Too many open files"},
    {ERROR_TOO_MANY_OPEN_FILES, std::errc::too_many_files_open, "Too many open files"},
    {WSAEWOULDBLOCK, std::errc::operation_would_block, "Operation would block"},
    {WSAEINPROGRESS, std::errc::operation_in_progress, "Operation now in progress"},
    {WSAEALREADY, std::errc::connection_already_in_progress, "Operation already in progress"},
    {WSAENOTSOCK, std::errc::not_a_socket, "Socket operation on non-socket"},
    {WSAEDESTADDRREQ, std::errc::destination_address_required, "Destination address required"},
    {WSAEMSGSIZE, std::errc::message_size, "Message too long"},
    {ERROR_MORE_DATA, std::errc::message_size, "Message too long"},  // a datagram longer than the buffer
    {WSAEPROTOTYPE, std::errc::wrong_protocol_type, "Protocol wrong type for socket"},
    {WSAENOPROTOOPT, std::errc::no_protocol_option, "Protocol not available"},
    {WSAEPROTONOSUPPORT, std::errc::protocol_not_supported, "Protocol not supported"},
    {WSAEOPNOTSUPP, std::errc::operation_not_supported, "Operation not supported"},
    {WSAEAFNOSUPPORT, std::errc::address_family_not_supported, "Address family not supported by protocol"},
    {WSAEADDRINUSE, std::errc::address_in_use, "Address already in use"},
    {WSAEADDRNOTAVAIL, std::errc::address_not_available, "Cannot assign requested address"},
    {WSAENETDOWN, std::errc::network_down, "Network is down"},
    {WSAENETUNREACH, std::errc::network_unreachable, "Network is unreachable"},
    {ERROR_NETWORK_UNREACHABLE, std::errc::network_unreachable, "Network is unreachable"},
    {WSAENETRESET, std::errc::network_reset, "Network dropped connection on reset"},
    {WSAECONNABORTED, std::errc::connection_aborted, "Software caused connection abort"},
    {ERROR_CONNECTION_ABORTED, std::errc::connection_aborted, "Software caused connection abort"},
    {ERROR_REQUEST_ABORTED, std::errc::connection_aborted, "Software caused connection abort"},
    {WSAECONNRESET, std::errc::connection_reset, "Connection reset by peer"},
    {ERROR_NETNAME_DELETED, std::errc::connection_reset, "Connection reset by peer"},  // the peer reset, seen on IOCP
    {WSAENOBUFS, std::errc::no_buffer_space, "No buffer space available"},
    {WSAEISCONN, std::errc::already_connected, "Transport endpoint is already connected"},
    {WSAENOTCONN, std::errc::not_connected, "Transport endpoint is not connected"},
    {WSAESHUTDOWN, std::errc::broken_pipe, "Broken pipe"},  // send after shutdown: EPIPE on POSIX
    {ERROR_BROKEN_PIPE, std::errc::broken_pipe, "Broken pipe"},
    {WSAETIMEDOUT, std::errc::timed_out, "Connection timed out"},
    {ERROR_SEM_TIMEOUT, std::errc::timed_out, "Connection timed out"},
    {WSAECONNREFUSED, std::errc::connection_refused, "Connection refused"},
    {ERROR_CONNECTION_REFUSED, std::errc::connection_refused, "Connection refused"},
    {ERROR_PORT_UNREACHABLE, std::errc::connection_refused, "Connection refused"},  // UDP: ECONNREFUSED on Linux
    {WSAEHOSTUNREACH, std::errc::host_unreachable, "No route to host"},
    {ERROR_HOST_UNREACHABLE, std::errc::host_unreachable, "No route to host"},
    {ERROR_NOT_ENOUGH_MEMORY, std::errc::not_enough_memory, "Cannot allocate memory"},
    {ERROR_OUTOFMEMORY, std::errc::not_enough_memory, "Cannot allocate memory"},
    {ERROR_OPERATION_ABORTED, std::errc::operation_canceled, "Operation canceled"},  // CancelIoEx
};

// Keeps the Windows code while comparing equal to the std::errc it means, with the POSIX
// wording as its message: the C runtime's strerror knows none of the socket errnos (a
// generic_category code would print "Unknown error"), and FormatMessage under wine has no
// text for several WSAE* codes.
class WinsockCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "winsock"; }
  std::string message(int c) const override {
    for (const Mapping& m : kMap)
      if (static_cast<int>(m.win) == c) return m.text;
    return std::system_category().message(c);
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    for (const Mapping& m : kMap)
      if (static_cast<int>(m.win) == c) return std::make_error_condition(m.posix);
    return {c, *this};
  }
};
const WinsockCategory g_winsock;

}  // namespace

std::error_code winsock_error(std::uint32_t err) noexcept {
  if (err == 0) return {};
  for (const Mapping& m : kMap)
    if (m.win == err) return {static_cast<int>(err), g_winsock};
  return {static_cast<int>(err), std::system_category()};
}

}  // namespace netpoll::net
