// The class room on the lab page: "Start a class", the room bar every member sees (code,
// challenge and the server's verdict, "eyes on me", spotlight), and the teacher's class view
// and actions. The server enforces every rule; this only shows them.
import { ClientMessage, ServerMessage } from "./protocol.js";
import { element } from "./views/dom.js";
import { createClassView } from "./views/classView.js";
import { keepRoster, mergeTiles, TileSort } from "./roomTiles.js";
import { LESSONS, lessonConfig } from "./lessons.js";

export const ROOM_KEY = "backprop-lab-room";
const VERDICTS = {
  working: "not there yet",
  met: "met ✓",
  outside_limits: "outside the rules",
  over_budget: "over the step budget",
};

// `type` set as a property: the protocol test reads every `type: "…"` in the JS as a message.
function button(testid, text) {
  const el = element("button", { testid, textContent: text });
  el.type = "button";
  return el;
}

function savedRoom() {
  try {
    return JSON.parse(sessionStorage.getItem(ROOM_KEY) || "null");
  } catch {
    return null;
  }
}

function buildDom(root) {
  const dom = {
    start: button("start-class", "Class"),
    code: element("output", { testid: "room-code", className: "room-code" }),
    links: element("span", { className: "room-links" }),
    banner: element("span", { className: "room-banner", testid: "room-banner" }),
    back: button("watch-own", "Back to my run"),
    challenge: element("strong", { testid: "challenge" }),
    status: element("span", { testid: "challenge-status", className: "challenge-status" }),
    teacher: element("div", { className: "room-teacher" }),
    push: element("select", { testid: "push-choice", "aria-label": "What to push to the class" }),
    hide: element("input", { testid: "push-hide", placeholder: "hide= (comma-separated)", "aria-label": "Controls to hide" }),
    pushButton: button("push-lesson", "Push to the class"),
    lock: button("lock-controls", "Eyes on me"),
    spotlight: button("spotlight", "Spotlight"),
    reset: button("reset-all", "Reset all runs"),
    export: button("export-results", "Results (CSV)"),
    sort: element("select", { testid: "sort-tiles", "aria-label": "Sort the tiles" }),
    tiles: element("div", { className: "class-tiles" }),
    view: element("section", { testid: "class-view", className: "class-view" }),
  };
  dom.back.hidden = true;
  for (const [value, label] of [[TileSort.NAME, "by name"], [TileSort.LOSS, "by loss"], [TileSort.ACCURACY, "by accuracy"]]) {
    dom.sort.add(new Option(`Sort ${label}`, value));
  }
  dom.push.add(new Option("My current settings", "mine"));
  for (const lesson of LESSONS) dom.push.add(new Option(`Lesson: ${lesson.title}`, `lesson:${lesson.id}`));
  dom.teacher.append(dom.push, dom.hide, dom.pushButton, dom.lock, dom.spotlight, dom.reset, dom.export, dom.sort);
  dom.view.append(dom.teacher, dom.tiles);
  dom.view.hidden = true;
  // Outside a class the room takes no row of its own: its one button sits in the toolbar.
  dom.start.className = "small";
  dom.start.title = "Start a class: a room code for your students and a class view for you";
  dom.start.setAttribute("aria-label", "Start a class");
  const extras = document.querySelector(".topbar-extras");
  if (extras) extras.insertBefore(dom.start, extras.lastElementChild);
  const bar = element("div", { className: "room-bar" }, [
    ...(extras ? [] : [dom.start]),
    dom.code,
    dom.links,
    dom.challenge,
    dom.status,
    dom.banner,
    dom.back,
  ]);
  // Hidden as a whole: an empty section would still take its share of the page's gaps.
  root.hidden = true;
  dom.root = root;
  root.append(bar, dom.view);
  return dom;
}

export function createRoom({ socket, root, getConfig, onError }) {
  const dom = buildDom(root);
  let room = savedRoom();
  let state = null; // the last room_state
  let tiles = new Map();

  const view = createClassView(dom.tiles, { onWatch: (student) => socket.send(ClientMessage.ROOM_WATCH, { student }) });

  function enter() {
    if (!room) return;
    if (room.role === "teacher") socket.send(ClientMessage.ROOM_TEACH, { code: room.code, secret: room.secret });
    else socket.send(ClientMessage.ROOM_JOIN, { code: room.code, token: room.token });
  }

  async function startClass() {
    const response = await fetch("/api/rooms", { method: "POST" });
    if (!response.ok) return onError("could not start a class");
    const answer = await response.json();
    room = { code: answer.code, secret: answer.secret, role: "teacher" };
    sessionStorage.setItem(ROOM_KEY, JSON.stringify(room));
    for (const c of answer.challenges) dom.push.add(new Option(`Challenge: ${c.title}`, `challenge:${c.id}`));
    enter();
    return undefined;
  }

  function pushLesson() {
    const [kind, id] = dom.push.value.split(":");
    const hide = dom.hide.value.split(",").map((s) => s.trim()).filter(Boolean);
    const payload = { hide };
    if (kind === "mine") payload.config = getConfig();
    if (kind === "lesson") payload.config = lessonConfig(LESSONS.find((l) => l.id === id), getConfig());
    if (kind === "challenge") payload.challenge = id;
    socket.send(ClientMessage.ROOM_PUSH, payload);
  }

  async function exportResults() {
    const response = await fetch(`/api/rooms/${room.code}/results.csv`, { headers: { "X-Room-Secret": room.secret } });
    if (!response.ok) return onError("could not export the results");
    const link = element("a", { href: URL.createObjectURL(await response.blob()), download: `class-${room.code}.csv` });
    link.click();
    URL.revokeObjectURL(link.href);
    return undefined;
  }

  function applyHidden(names) {
    for (const el of document.querySelectorAll(".room-hidden")) el.classList.remove("room-hidden");
    for (const name of names) {
      const control = document.querySelector(`[data-testid="${CSS.escape(name)}"]`);
      (control?.closest("label") || control)?.classList.add("room-hidden");
    }
  }

  function nameOf(student) {
    return state?.roster.find((entry) => entry.id === student)?.name ?? "a student";
  }

  function showState(next) {
    const before = state;
    state = next;
    const teacher = next.role === "teacher";
    dom.start.hidden = true;
    dom.root.hidden = false;
    dom.code.textContent = `Class ${next.code}`;
    dom.links.textContent = teacher ? `Students join at ${location.origin}/join/${next.code}` : "";
    dom.view.hidden = !teacher;
    dom.challenge.textContent = next.challenge ? next.challenge.title : "";
    dom.challenge.title = next.challenge ? next.challenge.text : "";
    if (!next.challenge) dom.status.textContent = "";
    // The verdicts are the students' own runs'; the teacher reads them on the tiles and results.
    dom.status.hidden = teacher;
    if (before?.challenge?.id !== next.challenge?.id) dom.status.textContent = next.challenge ? VERDICTS.working : "";
    document.body.classList.toggle("room-locked", next.locked && !teacher);
    dom.lock.textContent = next.locked ? "Unlock controls" : "Eyes on me";
    dom.lock.setAttribute("aria-pressed", String(next.locked));
    dom.spotlight.textContent = next.spotlight ? `End spotlight (${nameOf(next.spotlight)})` : "Spotlight watched run";
    if (!teacher) applyHidden(next.hide);
    // A spotlight shows on every student's screen; it ends, and each is back on their own run.
    if (!teacher && next.spotlight && next.spotlight !== next.you && next.watching !== next.spotlight) {
      socket.send(ClientMessage.ROOM_WATCH, { student: next.spotlight });
    } else if (!teacher && !next.spotlight && next.watching) {
      socket.send(ClientMessage.ROOM_WATCH, { student: null });
    }
    const banner = [];
    if (next.locked && !teacher) banner.push("Eyes on me: your teacher has paused the controls");
    if (next.watching) banner.push(`Watching ${nameOf(next.watching)}'s run (read-only)`);
    dom.banner.textContent = banner.join(" · ");
    dom.back.hidden = !(teacher && next.watching);
    tiles = keepRoster(tiles, next.roster);
    renderTiles();
  }

  function renderTiles() {
    if (state?.role === "teacher") view.render(tiles, dom.sort.value, state.watching);
  }

  dom.start.addEventListener("click", () => startClass().catch(() => onError("could not start a class")));
  dom.pushButton.addEventListener("click", pushLesson);
  dom.lock.addEventListener("click", () => socket.send(ClientMessage.ROOM_LOCK, { locked: !state?.locked }));
  dom.spotlight.addEventListener("click", () =>
    socket.send(ClientMessage.ROOM_SPOTLIGHT, { student: state?.spotlight ? null : state?.watching ?? null }),
  );
  dom.reset.addEventListener("click", () => socket.send(ClientMessage.ROOM_RESET, {}));
  dom.export.addEventListener("click", () => exportResults().catch(() => onError("could not export the results")));
  dom.sort.addEventListener("change", renderTiles);
  dom.back.addEventListener("click", () => socket.send(ClientMessage.ROOM_WATCH, { student: null }));
  if (room?.role === "teacher") {
    fetch("/api/challenges")
      .then((r) => r.json())
      .then((list) => list.forEach((c) => dom.push.add(new Option(`Challenge: ${c.title}`, `challenge:${c.id}`))))
      .catch(() => {});
  }

  return {
    // Every server message passes here; a new session (a reconnect) joins the room again.
    handle(message) {
      switch (message.type) {
        case ServerMessage.SESSION:
          return enter();
        case ServerMessage.ROOM_STATE:
          return showState(message);
        case ServerMessage.CLASS_TILES:
          tiles = mergeTiles(tiles, message.tiles);
          return renderTiles();
        case ServerMessage.CHALLENGE_STATUS:
          dom.status.textContent = message.met_at_step != null
            ? `${VERDICTS.met} at step ${message.met_at_step}`
            : [VERDICTS[message.state], ...message.reasons].join(": ");
          dom.status.dataset.state = message.state;
          return undefined;
        default:
          return undefined;
      }
    },
  };
}
