// The one base64 decoder of the page: the server sends float32 arrays and byte maps as base64.

export function decodeBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// Little-endian float32 values, as the server's NumPy `tobytes()` writes them.
export function decodeFloat32(text) {
  const bytes = decodeBase64(text);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

// How many bytes `text` stands for, without decoding it.
export function base64ByteLength(text) {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}
