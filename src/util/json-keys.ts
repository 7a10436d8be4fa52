// JSON.parse keeps the last of two equal keys of an object without a word, so `{"id": "A", …, "id": "B"}` scores
// patient B while a reader of the top of the record sees A. Untrusted JSON (request bodies, input files) is
// scanned once for such a key after it parsed.

/** Where an object of valid JSON text first repeats a key: the path to that key ([0, 'id']), or undefined. */
export function repeatedKey(text: string): (string | number)[] | undefined {
  // One frame per open object or array: its position (the current key, or the index) and, for an object, its keys.
  const stack: { keys: Set<string> | null; at: string | number; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) { escaped = true; j++; } else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        // (a key written with escapes, "\u0069d", is the key "id")
        const key: string = escaped ? JSON.parse(text.slice(i, j + 1)) : text.slice(i + 1, j);
        if (top.keys.has(key)) return [...stack.slice(0, -1).map((f) => f.at), key];
        top.keys.add(key);
        top.at = key;
      }
      i = j;
    } else if (c === 0x7b) stack.push({ keys: new Set(), at: '', expectKey: true });
    else if (c === 0x5b) stack.push({ keys: null, at: 0, expectKey: false });
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x3a) stack[stack.length - 1].expectKey = false;
    else if (c === 0x2c) {
      const top = stack[stack.length - 1];
      if (top.keys) top.expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return undefined;
}

/** repeatedKey as an input issue: the key's path (formatted by the caller's `format`) and what is wrong. */
export function repeatedKeyIssue(text: string, format: (path: (string | number)[]) => string): { path: string; message: string } | undefined {
  const again = repeatedKey(text);
  return again && { path: format(again), message: `the key '${again[again.length - 1]}' appears twice in one object (which one is meant?)` };
}
