// Winsock and Win32 error codes as the portable error codes the POSIX net layer returns
// (issue: "Winsock errors map to the same error codes as POSIX where they mean the same
// thing"), so `ec == std::errc::connection_refused` holds on every OS. Windows build only.
#pragma once

#include <cstdint>
#include <system_error>

namespace netpoll::net {

// A WSAGetLastError() / GetLastError() / IocpOperation::result() code. A code with a POSIX
// meaning comes back in the "winsock" category: its value and message are Windows' own, and it
// compares equal to that std::errc (ec == std::errc::connection_refused). Anything else keeps
// its Windows value in std::system_category. 0 is success.
std::error_code winsock_error(std::uint32_t err) noexcept;

}  // namespace netpoll::net
