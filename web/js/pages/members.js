// The organization's members and their roles: invite (the API answers a one-time link that lets the
// new member choose a password; Inlet sends no email, so the link is shown once here, to copy and
// hand over), change a role, remove, and issue a password-reset link. What the buttons offer follows
// the rules of the API: owners do everything, admins everything but touching owners, viewers only
// read (and may get a reset link for themselves).

import { h, append, replace, timeEl, badge, field, toast } from "../dom.js";
import { patch, post } from "../api.js";
import { card, confirmDialog, confirmRevoke, createByNameForm, dataTable, listLoader, shownOnce } from "../components.js";

const ROLES = [
  ["viewer", "Viewer: sees everything, changes nothing"],
  ["admin", "Admin: everything except changing or removing owners"],
  ["owner", "Owner: everything, including the owners"],
];

/** The roles `me` may hand out. */
const grantable = (me) => ROLES.filter(([r]) => me === "owner" || (me === "admin" && r !== "owner"));

/** May `me` change, remove or reset `member`? (The API decides; this only hides what it refuses.) */
const mayManage = (me, member) => me === "owner" || (me === "admin" && member.role !== "owner");

function roleSelect(me, current, id) {
  return h("select", { id, name: "role" }, grantable(me).map(([r, text]) => h("option", { value: r, selected: r === current }, text)));
}

/** The one-time link of an invite or a reset, with when it stops working. */
function linkNotice(title, email, issued) {
  return h("div", { class: "notice notice-ok" },
    h("p", {}, h("strong", {}, title)),
    shownOnce({
      label: `Password link for ${email}`,
      value: issued.reset_url,
      id: "reset-link",
      note: "Shown only this once: copy it now and hand it to them yourself (Inlet sends no email). It works once, until the time below; opening it lets them choose a password and logs them in.",
    }),
    h("p", { class: "hint" }, "Expires ", timeEl(issued.expires_at), "."));
}

export function membersPage(main, _params, app) {
  document.title = "Members · Inlet";
  const me = app.me.role;
  const myId = app.me.user ? app.me.user.id : null;
  const created = h("div", { "aria-live": "polite" });
  const listBox = h("div");

  const invite = me === "viewer" ? null : createByNameForm({
    id: "member-email",
    key: "email",
    label: "Email",
    type: "email",
    placeholder: "name@example.com",
    hint: "They log in with it. An email can belong to one organization only.",
    submitLabel: "Invite",
    emptyError: "Enter their email.",
    url: "/v1/members",
    extra: [field("Role", roleSelect(me, "viewer", "member-role"))],
    created,
    notice: (m) => linkNotice(`${m.member.email} is invited as ${m.member.role}.`, m.member.email, m),
    reload: () => load(),
  });

  const changeRole = async (m) => {
    const select = roleSelect(me, m.role, "change-role");
    const ok = await confirmDialog({
      title: `Change the role of ${m.email}?`,
      body: h("div", {}, field("New role", select).wrap,
        h("p", { class: "hint" }, "It applies at once, to their dashboard session too. API tokens they created are lowered with them, never raised.")),
      confirmLabel: "Change role",
    });
    if (!ok || select.value === m.role) return;
    try {
      await patch(`/v1/members/${m.id}`, { role: select.value });
      toast(`${m.email} is now ${select.value}.`);
      await load();
    } catch (ex) {
      toast(`Role not changed: ${ex.message}`, "error");
    }
  };

  const issueReset = async (m) => {
    const own = m.id === myId;
    const ok = await confirmDialog({
      title: own ? "Get a link to change your password?" : `Issue a password-reset link for ${m.email}?`,
      body: `The current password keeps working until the link is used; using it ends every dashboard session of ${own ? "yours" : "theirs"}. A new link replaces older ones.`,
      confirmLabel: "Issue link",
    });
    if (!ok) return;
    try {
      const r = await post(`/v1/members/${m.id}/password-reset`, undefined, { idempotent: true });
      replace(created, linkNotice(own ? "A link to change your password." : `A password-reset link for ${m.email}.`, m.email, r));
      created.querySelector("input, textarea").focus();
    } catch (ex) {
      toast(`No link issued: ${ex.message}`, "error");
    }
  };

  const remove = (m) =>
    confirmRevoke(
      {
        title: `Remove ${m.email}?`,
        body: `${m.id === myId ? "You" : "They"} can no longer log in: ${m.id === myId ? "your" : "their"} dashboard sessions end and the API tokens ${m.id === myId ? "you" : "they"} created are revoked. The last owner cannot be removed.`,
        confirmLabel: "Remove member",
      },
      `/v1/members/${m.id}`,
      `${m.email} removed.`,
      () => load(),
      "Not removed",
    );

  // `lastOwner`: the only owner, whom nobody may demote or remove.
  const actions = (m, lastOwner) => {
    const manage = mayManage(me, m);
    const btn = (label, what, onclick, cls = "secondary small") =>
      h("button", { type: "button", class: cls, "aria-label": `${label} for ${m.email}`, dataset: { fk: `${what}-${m.id}` }, onclick: () => onclick(m) }, label);
    return [
      manage && !lastOwner ? btn("Change role", "role", changeRole) : null,
      manage || m.id === myId ? btn("Reset link", "reset", issueReset) : null,
      manage && !lastOwner ? btn("Remove", "remove", remove, "danger small") : null,
    ].filter(Boolean).flatMap((b, i) => (i ? [" ", b] : [b]));
  };

  const load = listLoader(listBox, "/v1/members?limit=100", "No members.", (members) => {
    const owners = members.filter((m) => m.role === "owner").length;
    return dataTable({
      id: "members-table",
      caption: "Members, newest first",
      columns: ["Email", "Role", "Status", "Since", ""],
      rows: members.map((m) => ({
        attrs: { dataset: { member: m.id } },
        cells: [
          [m.email, m.id === myId ? h("span", { class: "muted" }, " (you)") : null],
          badge(m.role === "owner" ? "ok" : m.role === "admin" ? "warn" : "idle", m.role),
          m.status === "invited" ? badge("warn", "invited") : "active",
          timeEl(m.created_at),
          actions(m, m.role === "owner" && owners === 1),
        ],
      })),
    });
  });

  append(main,
    h("h1", {}, "Members"),
    h("p", { class: "lead" }, "Everyone who can log in to this organization's dashboard. ",
      h("strong", {}, "Owners"), " can do everything; ", h("strong", {}, "admins"), " everything except changing or removing owners; ",
      h("strong", {}, "viewers"), " only read. You are ", h("strong", {}, me), "."),
    invite ? card("Invite a member", invite) : null,
    created,
    card("Team", listBox),
  );
  load();
  return null;
}
