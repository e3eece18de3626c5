// Winsock / Win32 codes come back as the POSIX error codes the net layer uses elsewhere.
#include <winsock2.h>
#include <windows.h>

#include <ostream>
#include <string>

#include "doctest/doctest.h"
#include "netpoll/net/internal/winsock_error.h"

using netpoll::net::winsock_error;

TEST_CASE("winsock_error: both spellings of a condition map to one POSIX code") {
  CHECK(!winsock_error(0));
  CHECK(winsock_error(WSAECONNREFUSED) == std::errc::connection_refused);
  CHECK(winsock_error(ERROR_CONNECTION_REFUSED) == std::errc::connection_refused);
  CHECK(winsock_error(WSAECONNRESET) == std::errc::connection_reset);
  CHECK(winsock_error(ERROR_NETNAME_DELETED) == std::errc::connection_reset);
  CHECK(winsock_error(WSAECONNABORTED) == std::errc::connection_aborted);
  CHECK(winsock_error(ERROR_CONNECTION_ABORTED) == std::errc::connection_aborted);
  CHECK(winsock_error(WSAETIMEDOUT) == std::errc::timed_out);
  CHECK(winsock_error(WSAEADDRINUSE) == std::errc::address_in_use);
  CHECK(winsock_error(WSAEMFILE) == std::errc::too_many_files_open);
  CHECK(winsock_error(WSAENOBUFS) == std::errc::no_buffer_space);
  CHECK(winsock_error(WSAEWOULDBLOCK) == std::errc::operation_would_block);
  CHECK(winsock_error(WSAESHUTDOWN) == std::errc::broken_pipe);
  CHECK(winsock_error(WSAEMSGSIZE) == std::errc::message_size);
  CHECK(winsock_error(ERROR_MORE_DATA) == std::errc::message_size);
  CHECK(winsock_error(ERROR_OPERATION_ABORTED) == std::errc::operation_canceled);
  // The Windows value and text are kept (the C runtime has no text for socket errnos); the
  // equivalence to std::errc is the category's.
  const std::error_code refused = winsock_error(WSAECONNREFUSED);
  CHECK(refused.value() == WSAECONNREFUSED);
  CHECK(std::string(refused.category().name()) == "winsock");
  CHECK(refused.default_error_condition() == std::errc::connection_refused);
  CHECK(refused != std::errc::connection_reset);
  CHECK(!refused.message().empty());
  CHECK(refused.message() == "Connection refused");  // the POSIX wording, on every OS
}

TEST_CASE("winsock_error: a code with no POSIX meaning keeps its Windows value") {
  const std::error_code ec = winsock_error(ERROR_FILE_NOT_FOUND);
  CHECK(ec.category() == std::system_category());
  CHECK(ec.value() == static_cast<int>(ERROR_FILE_NOT_FOUND));
  CHECK(!ec.message().empty());
}

TEST_CASE("winsock_error: what a real refused connect reports") {
  WSADATA d;
  REQUIRE(WSAStartup(MAKEWORD(2, 2), &d) == 0);
  // A listener bound then closed: its port refuses connections.
  SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  REQUIRE(l != INVALID_SOCKET);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  int len = sizeof addr;
  REQUIRE(getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  closesocket(l);
  SOCKET c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  REQUIRE(c != INVALID_SOCKET);
  REQUIRE(connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0);
  CHECK(winsock_error(static_cast<std::uint32_t>(WSAGetLastError())) == std::errc::connection_refused);
  closesocket(c);
}
