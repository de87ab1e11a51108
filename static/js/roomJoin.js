// The join page: a student gives the class code and a name and lands in the lab; a teacher
// link (`#teacher=SECRET`) goes straight to the lab as the class's teacher. The room's
// credentials stay in this tab (sessionStorage), never in a cookie or the server's logs.

import { ROOM_KEY } from "./room.js";

function remember(room) {
  sessionStorage.setItem(ROOM_KEY, JSON.stringify(room));
  window.location.assign("/");
}

async function join(form, error) {
  const body = { code: form.code.value.trim().toUpperCase(), name: form.name.value };
  const response = await fetch("/api/rooms/join", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    const detail = answer.detail;
    error.textContent = typeof detail === "object" && detail ? detail.message : "could not join";
    return;
  }
  remember({ code: answer.code, token: answer.token, role: "student" });
}

function start() {
  const form = document.querySelector('[data-testid="join-form"]');
  const error = document.querySelector('[data-testid="join-error"]');
  const teacher = new URLSearchParams(window.location.hash.slice(1)).get("teacher");
  const code = form.code.value.trim().toUpperCase();
  if (teacher && code) {
    remember({ code, secret: teacher, role: "teacher" });
    return;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    join(form, error).catch(() => {
      error.textContent = "the server did not answer: try again";
    });
  });
}

start();
