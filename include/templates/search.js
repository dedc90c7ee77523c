// Search on the site's index page, over static JSON that publish keeps current (search_index.py):
//   search/index.json          titles, pages, posters, animals and spoken chapter titles of every video
//   search/terms/<xx>.json     the words said, by their first two letters: word -> [[video id, cue], ...]
//   videos/<id>/search.json    one video's cues ([start, text]), fetched only for the videos found
// Typed words match words that start with them; several words must all be in one cue (or the title).
// Every piece of text goes into the page as text (textContent), never as markup.
"use strict";

(() => {
  const form = document.querySelector("[data-search]");
  const results = document.querySelector("[data-results]");
  if (!form || !results) return;
  const input = form.querySelector("input[type=search]");
  const status = form.querySelector("[data-search-status]");
  const root = new URL(form.dataset.search, document.baseURI); // .../search/index.json
  const site = new URL("../", root); // hrefs in the index are relative to the site's root
  const cache = new Map();
  const MIN_TERM = 2;
  const MAX_VIDEOS = 20;
  const MAX_CUES = 3;

  const fold = (text) => text.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "");
  const WORD = /[\p{L}\p{N}_]+/gu;
  const words = (text) => (fold(text).match(WORD) || []).filter((w) => w.length >= MIN_TERM);
  const shard = (term) => [...term.slice(0, 2)].map((c) => (/[a-z0-9]/.test(c) ? c : "_")).join("");
  const clock = (s) => {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return h ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
  };

  function load(url) {
    const key = String(url);
    if (!cache.has(key)) cache.set(key, fetch(key).then((r) => (r.ok ? r.json() : null)).catch(() => null));
    return cache.get(key);
  }

  // [video id, cue] pairs where a word starting with ``term`` is said.
  async function said(term) {
    const words = (await load(new URL(`terms/${shard(term)}.json`, root))) || {};
    const pairs = new Set();
    for (const [word, postings] of Object.entries(words)) {
      if (word.startsWith(term)) for (const [video, cue] of postings) pairs.add(`${video} ${cue}`);
    }
    return pairs;
  }

  // The text with every word that starts with one of the terms in a <mark>, as DOM nodes.
  function highlighted(text, terms) {
    const out = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(WORD)) {
      if (!terms.some((t) => fold(match[0]).startsWith(t))) continue;
      out.append(text.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.textContent = match[0];
      out.append(mark);
      last = match.index + match[0].length;
    }
    out.append(text.slice(last));
    return out;
  }

  function link(href, at, content) {
    const a = document.createElement("a");
    a.href = new URL(at === null ? href : `${href}#t=${at}`, site).href;
    a.append(...content);
    return a;
  }

  function timed(at, ...content) {
    const time = document.createElement("time");
    time.textContent = clock(at);
    return [time, " ", ...content];
  }

  async function search(query) {
    const terms = [...new Set(words(query))];
    if (!terms.length) return null;
    const index = (await load(root)) || { videos: {} };
    const sets = await Promise.all(terms.map(said));
    const cues = [...sets[0]].filter((pair) => sets.every((s) => s.has(pair)));
    const found = new Map(); // video id -> {title, animals, chapters, cues}
    const hit = (id) => {
      if (!found.has(id)) found.set(id, { title: false, animals: [], chapters: [], cues: [] });
      return found.get(id);
    };
    for (const pair of cues) {
      const [id, cue] = pair.split(" ");
      if (index.videos[id]) hit(id).cues.push(Number(cue));
    }
    for (const [id, video] of Object.entries(index.videos)) {
      const titleWords = words(video.title);
      if (terms.every((t) => titleWords.some((w) => w.startsWith(t)))) hit(id).title = true;
      for (const [label, at] of video.animals) {
        const labelWords = words(label);
        if (terms.every((t) => labelWords.some((w) => w.startsWith(t)))) hit(id).animals.push([label, at]);
      }
      for (const [chapter, at] of video.chapters || []) {
        const chapterWords = words(chapter);
        if (terms.every((t) => chapterWords.some((w) => w.startsWith(t)))) hit(id).chapters.push([chapter, at]);
      }
    }
    const ranked = [...found.entries()]
      .sort(([, a], [, b]) => (b.title - a.title) || (b.animals.length - a.animals.length)
        || (b.chapters.length - a.chapters.length) || (b.cues.length - a.cues.length))
      .slice(0, MAX_VIDEOS);
    return Promise.all(ranked.map(async ([id, match]) => {
      const video = index.videos[id];
      const doc = match.cues.length ? await load(new URL("search.json", new URL(video.href, site))) : null;
      return { id, video, match, doc, terms };
    }));
  }

  function show(found) {
    results.replaceChildren();
    if (found === null) {
      status.textContent = "";
      return;
    }
    status.textContent = found.length ? `${found.length} video${found.length === 1 ? "" : "s"} found` : "Nothing found";
    for (const { id, video, match, doc, terms } of found) {
      const item = document.createElement("li");
      item.className = "result";
      item.dataset.video = id;
      const heading = document.createElement("h2");
      heading.append(link(video.href, null, match.title ? [highlighted(video.title, terms)] : [video.title]));
      item.append(heading);
      const moments = document.createElement("ul");
      for (const [label, at] of match.animals) {
        const li = document.createElement("li");
        li.className = "animal";
        li.append(link(video.href, at, timed(at, highlighted(label, terms), " on screen")));
        moments.append(li);
      }
      for (const [chapter, at] of match.chapters) {
        const li = document.createElement("li");
        li.className = "chapter";
        li.append(link(video.href, at, timed(at, "Chapter: ", highlighted(chapter, terms))));
        moments.append(li);
      }
      for (const cue of match.cues.slice(0, MAX_CUES)) {
        const [at, text] = doc?.cues?.[cue] || [];
        if (text === undefined) continue;
        const li = document.createElement("li");
        li.className = "cue";
        li.append(link(video.href, at, timed(at, highlighted(text, terms))));
        moments.append(li);
      }
      if (moments.children.length) item.append(moments);
      results.append(item);
    }
  }

  let pending = 0;
  const run = async () => {
    const ticket = ++pending;
    const found = await search(input.value);
    if (ticket === pending) show(found); // an older query's answer never replaces a newer one's
  };
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 150);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  form.hidden = false;
  const initial = new URLSearchParams(window.location.search).get("q");
  if (initial) {
    input.value = initial;
    run();
  }
})();
