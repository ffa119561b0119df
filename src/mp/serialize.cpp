// The out-of-line parts of aio/mp/serialize.hpp and aio/mp/errors.hpp.
#include "aio/mp/serialize.hpp"

namespace aio::mp {

RemoteError::RemoteError(std::string type_name, std::string message)
    : ProcessError(type_name + ": " + message + " (raised in a worker process)"),
      type_(std::move(type_name)),
      message_(std::move(message)) {}

RemoteError::RemoteError(std::string type_name, std::string message, const std::string& what)
    : ProcessError(what), type_(std::move(type_name)), message_(std::move(message)) {}

void Reader::throw_truncated(size_t wanted) const {
    throw SerializationError("truncated message: a value needs " + std::to_string(wanted) + " more bytes, " +
                             std::to_string(remaining()) + " are left");
}

void Reader::throw_bad_count(uint64_t count) const {
    throw SerializationError("corrupt message: a count of " + std::to_string(count) + " elements with only " +
                             std::to_string(remaining()) + " bytes left");
}

}  // namespace aio::mp
