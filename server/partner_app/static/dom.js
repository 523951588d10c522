// Building the page without innerHTML: every text goes in as text, never as markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// A small, safe subset of Markdown (the catalog's texts): `## headings`, `- ` and `1. `
// lists, paragraphs, **bold**.
export function markdown(source, headingLevel = 2) {
  const out = document.createDocumentFragment();
  let list = null;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) out.append(h("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (const raw of String(source || "").split("\n")) {
    const line = raw.trim();
    const heading = line.match(/^#{1,6}\s+(.*)$/);
    const bullet = line.match(/^(?:[-*]|\d+\.)\s+(.*)$/);
    if (!line) {
      flush();
      list = null;
    } else if (heading) {
      flush();
      list = null;
      out.append(h(`h${headingLevel}`, {}, inline(heading[1])));
    } else if (bullet) {
      flush();
      if (!list) {
        list = h(/^\d/.test(line) ? "ol" : "ul");
        out.append(list);
      }
      list.append(h("li", {}, inline(bullet[1])));
    } else if (list && raw.startsWith(" ")) {
      list.lastChild.append(" ", ...inline(line));
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
  return out;
}

function inline(text) {
  return text.split(/\*\*(.+?)\*\*/g).map((part, i) => (i % 2 ? h("strong", {}, part) : part));
}
