// WebSocketBase (include/aio/http/ws_base.hpp): the message API, forwarded to the shared core.
#include "aio/http/ws_base.hpp"

#include <stdexcept>

#include "ws_core.hpp"

namespace aio::http {

const std::shared_ptr<detail::WsCore>& WebSocketBase::core() const {
    if (!core_) throw std::logic_error("this WebSocket handle was moved from");
    return core_;
}

Task<void> WebSocketBase::send_str(std::string_view data, std::optional<bool> compress) {
    return core()->send_message(WSMsgType::TEXT, data, compress.value_or(true), "send_str()");
}

Task<void> WebSocketBase::send_bytes(std::string_view data, std::optional<bool> compress) {
    return core()->send_message(WSMsgType::BINARY, data, compress.value_or(true), "send_bytes()");
}

Task<void> WebSocketBase::send_json(const nlohmann::json& data, std::optional<bool> compress) {
    std::string text = data.dump();
    co_await send_str(text, compress);
}

Task<void> WebSocketBase::ping(std::string_view message) {
    return core()->send_control(WSMsgType::PING, message, "ping()");
}

Task<void> WebSocketBase::pong(std::string_view message) {
    return core()->send_control(WSMsgType::PONG, message, "pong()");
}

Task<bool> WebSocketBase::close(uint16_t code, std::string_view message) { return core()->close(code, message); }

Task<WSMessage> WebSocketBase::receive(std::optional<std::chrono::nanoseconds> timeout) {
    return core()->receive(timeout);
}

Task<std::string> WebSocketBase::receive_str(std::optional<std::chrono::nanoseconds> timeout) {
    return detail::ws_receive_typed(core(), WSMsgType::TEXT, timeout);
}

Task<std::string> WebSocketBase::receive_bytes(std::optional<std::chrono::nanoseconds> timeout) {
    return detail::ws_receive_typed(core(), WSMsgType::BINARY, timeout);
}

Task<nlohmann::json> WebSocketBase::receive_json(std::optional<std::chrono::nanoseconds> timeout) {
    std::string text = co_await receive_str(timeout);
    co_return nlohmann::json::parse(text);
}

AsyncGenerator<WSMessage> WebSocketBase::iter() {
    return detail::ws_iterate(core());
}

bool WebSocketBase::closed() const noexcept { return !core_ || core_->closed || core_->lost; }

std::optional<uint16_t> WebSocketBase::close_code() const noexcept {
    return core_ ? core_->close_code : std::nullopt;
}

const std::string& WebSocketBase::protocol() const noexcept {
    static const std::string none;
    return core_ ? core_->protocol : none;
}

bool WebSocketBase::compress() const noexcept { return core_ && core_->compress; }

}  // namespace aio::http
