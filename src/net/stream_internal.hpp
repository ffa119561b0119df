// What other parts of src/net need of the streams. Private to src/net.
#pragma once

#include "aio/net/socket.hpp"
#include "aio/net/streams.hpp"

namespace aio::detail {
/// A reader and a writer over a connected socket (the body of open_connection(sock=...)).
StreamPair streams_over(Socket sock, size_t limit);
}  // namespace aio::detail
