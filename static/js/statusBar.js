// The toolbar's readouts: step, epoch, losses, accuracy, speed, and the status line.
import { formatNumber } from "./views/colors.js";
import { weightGradientName } from "./views/gradientNames.js";

const $ = (id) => document.getElementById(id);

export function renderCounters(frame, gradClipNorm) {
  $("edge-gradient-name").textContent = weightGradientName(frame, gradClipNorm);
  $("step-count").textContent = String(frame.step);
  $("epoch-count").textContent = frame.epoch.toFixed(1);
  $("train-loss").textContent = formatNumber(frame.train_loss);
  $("test-loss").textContent = formatNumber(frame.test_loss);
  $("accuracy").textContent = frame.test_accuracy === null ? "—" : `${(frame.test_accuracy * 100).toFixed(1)}% test, ${(frame.train_accuracy * 100).toFixed(1)}% training`;
  $("speed").textContent = frame.status === "running" ? `${Math.round(frame.steps_per_second)} steps/s` : "";
}

// One line says the most pressing thing: an error shown, else the connection, a shutdown
// notice, the run's own message, or dead ReLUs (a run that has stopped learning in part while
// its status still says "running").
export function statusMessage(frame, { connected, connection, notice, error }) {
  if (error) return `error: ${error}`;
  if (!connected) return connection;
  if (notice) return notice;
  if (frame?.message) return frame.message;
  const dead = (frame?.health?.flags || []).filter((flag) => flag.kind === "dead_relu");
  return dead.map((flag) => flag.message).join("; ");
}

export function renderStatus(frame, situation) {
  const word = !situation.connected ? "disconnected" : frame ? frame.status : "connecting";
  $("status-word").textContent = word;
  $("status").dataset.state = word;
  $("status-message").textContent = statusMessage(frame, situation);
  document.body.classList.toggle("running", frame?.status === "running");
}
