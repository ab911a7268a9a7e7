// The live connection: one WebSocket, reconnected with a growing pause; every
// (re)connect starts with a whole table from the server.

export function connectSocket(onMessage, onState) {
  let ws;
  let pause = 500;
  let wanted = null;
  const open = () => {
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    ws.onopen = () => {
      pause = 500;
      onState(true);
      if (wanted !== null) {
        ws.send(JSON.stringify({ type: "watch", node: wanted }));
      }
    };
    ws.onmessage = (event) => onMessage(JSON.parse(event.data));
    ws.onclose = () => {
      onState(false);
      setTimeout(open, pause);
      pause = Math.min(10000, pause * 2);
    };
  };
  open();
  return {
    /** Ask for one node's live readings and events (null: none). */
    watch(node) {
      wanted = node;
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "watch", node }));
      }
    },
  };
}
