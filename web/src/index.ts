/// <reference lib="dom" />
/** The landing page (/): shows the addresses of this very server in the examples. */
import './index.css';

const ws = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/connection/websocket`;

function swap(id: string, from: string, to: string): void {
  const el = document.getElementById(id);
  if (el?.textContent) el.textContent = el.textContent.split(from).join(to);
}

swap('ws-url', 'ws://localhost:8000/connection/websocket', ws);
swap('browser-snippet', 'ws://localhost:8000/connection/websocket', ws);
swap('node-snippet', 'ws://localhost:8000/connection/websocket', ws);
swap('api-snippet', 'http://localhost:8000', location.origin);
