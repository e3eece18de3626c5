// IPv6 zones on Windows: interface names and indexes (netpoll/net/internal/sock.h), from the IP Helper API.
#include "netpoll/net/internal/sock.h"

// After the Winsock headers (netpoll/platform/socket.h, through sock.h): netioapi.h needs their types.
#include <iphlpapi.h>

namespace netpoll::net::os {

std::uint32_t interface_index(const char* name) noexcept { return if_nametoindex(name); }

std::string interface_name(std::uint32_t index) {
  char buf[IF_NAMESIZE + 1];
  return if_indextoname(index, buf) ? std::string(buf) : std::string();
}

}  // namespace netpoll::net::os
