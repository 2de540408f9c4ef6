// A Socket.IO chat node for bench/benches/cluster.rs: every "chat"
// message goes to every client on every node, through
// @socket.io/redis-streams-adapter on the Redis at REDIS_URL.
// Usage: node server.js PORT REDIS_URL; prints "listening on PORT".
const { createServer } = require("http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

const [port, url] = process.argv.slice(2);

(async () => {
  const redis = createClient({ url });
  await redis.connect();
  const http = createServer();
  const io = new Server(http, {
    adapter: createAdapter(redis),
    transports: ["websocket"],
  });
  io.on("connection", (socket) => {
    socket.on("chat", (message) => io.emit("chat", message));
  });
  http.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${port}`));
})();
