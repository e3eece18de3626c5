// The few blocking-socket calls the embedding tests' clients make (embed_clients.cc), one
// file per OS: embed_socket_posix.cc, embed_socket_windows.cc. Every call that can block times
// out after kClientTimeout, so a server that stops answering fails a test instead of hanging it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace netpoll::embed_test::sock {

using Handle = std::intptr_t;  // a socket; kInvalid on error
inline constexpr Handle kInvalid = -1;

// A connected blocking TCP socket to 127.0.0.1:port, or kInvalid with `err` saying why.
Handle connect_loopback(std::uint16_t port, std::string& err);
// One send / recv of at most n bytes: the count (recv: 0 at end of stream), or -1 with `err`
// naming the call and the error (a timeout says so).
long send_some(Handle s, const void* p, std::size_t n, std::string& err);
long recv_some(Handle s, void* p, std::size_t n, std::string& err);
// Half-closes the sending side; false with `err` on error.
bool shutdown_write(Handle s, std::string& err);
void close(Handle s);

}  // namespace netpoll::embed_test::sock
