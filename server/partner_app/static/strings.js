// Every English string the app shows, in one place, ready for translation.
// `{name}` placeholders are filled by `t(key, {name: value})`.
export const STRINGS = {
  loading: "Loading…",
  offlineBanner: "You are offline. What you record is kept on this phone and sent later.",
  hide: "Hide",
  hideLabel: "Hide the app now",

  // Sign in and join
  signInTitle: "Sign in",
  email: "Email",
  password: "Password",
  signIn: "Sign in",
  signingIn: "Signing in…",
  haveInvite: "I have an invite code",
  haveAccount: "I already have an account",
  joinTitle: "Join with your invite",
  joinIntro: "Your therapist gave you an invite code. It works once.",
  inviteCode: "Invite code",
  inviteHint: "Spaces, dashes and capital letters do not matter.",
  yourName: "Your name (your therapist and partner see it)",
  newPassword: "Choose a password (at least 10 characters)",
  timezone: "Your time zone",
  timezoneHint: "Taken from this phone; change it if it is wrong. Your week and your reminders follow it.",
  join: "Join",
  therapistGoesToPortal: "This app is for partners. Taking you to the therapist portal…",
  needsNetwork: "This needs a connection. Try again when you are online.",
  somethingWrong: "Something went wrong. Please try again.",

  // Tabs
  tabWeek: "This week",
  tabMine: "Mine",
  tabReminders: "Reminders",
  tabAccount: "My data",

  // This week
  weekTitle: "This week",
  weekRange: "{start} to {end}",
  nothingAssigned: "Nothing is assigned yet. Your therapist will set up your homework.",
  stage: "Stage {index}: {title}",
  included: "Included",
  offLimits: "Off limits",
  doneOf: "{done} of {target} this week",
  declined: "{n} not tonight",
  dueToday: "Due today",
  paused: "Paused",
  joint: "Together",
  solo: "On your own",
  minutes: "{n} minutes",
  open: "Open",
  lastUpdated: "Showing the copy kept on this phone.",

  // Outbox
  waitingOne: "1 check-in is waiting to send.",
  waitingMany: "{n} check-ins are waiting to send.",
  waitingToSend: "Waiting to send",
  sendNow: "Send now",
  sending: "Sending…",
  rejected: "Not accepted",
  rejectedTitle: "Check-ins that were not accepted",
  rejectedHelp: "The server did not accept this check-in. It stays on this phone until you remove it.",
  discard: "Remove from this phone",
  discardConfirm: "Remove this check-in from the phone for good? It has not been sent.",

  // Exercise
  back: "Back",
  instructions: "Instructions",
  safety: "Safety",
  duration: "About {n} minutes",
  record: "Record a check-in",
  exerciseOffline: "This exercise is not on the phone yet. Open it once while online.",

  // Check-in
  checkinTitle: "Check-in",
  checkinIntro: "Answer what you like; questions marked * are needed.",
  required: "*",
  yes: "Yes",
  no: "No",
  visibility: "Who can read this check-in?",
  visPrivate: "Only me",
  visPrivateHint: "Your therapist sees only that you did it, and any safety concern.",
  visTherapist: "Me and my therapist",
  visTherapistHint: "The usual choice.",
  visCouple: "Shared with my partner",
  visCoupleHint: "Your therapist and your partner can read it.",
  reflection: "Anything you want to add (optional)",
  save: "Save check-in",
  saving: "Saving…",
  fixErrors: "Please check the answers marked below.",
  requiredQuestion: "This question is required.",
  sent: "Thank you. Your check-in is saved.",
  savedOffline: "Saved on this phone. It will be sent when you are online.",
  done: "Done",

  // Crisis guidance (shown when a safety answer was given)
  guidanceTitle: "Take care of yourself",
  guidanceOffline: [
    "Thank you for telling us. Your therapist will be told as soon as this check-in is sent.",
    "You can stop any exercise at any time. If something hurts, stop; if the pain is strong, lasts or comes back, talk to a doctor.",
    "Tandem is not an emergency service. If you are in danger or might hurt yourself, call your local emergency number now (112 in Europe, 911 in North America).",
  ],

  // Mine
  mineTitle: "Mine",
  myCheckins: "My check-ins",
  noCheckins: "No check-ins yet.",
  sharedWithMe: "Shared with me",
  noShared: "Nothing has been shared with you yet.",
  visibleTo: "Visible to: {who}",
  noAnswers: "No answers to show.",
  reflectionLabel: "Note",
  more: "Show more",

  // Reminders
  remindersTitle: "Reminders",
  pushUnavailable: "Reminders on this phone need the operator to set up push. You can still choose your times here; they are used when push is available.",
  times: "Times",
  addTime: "Add a time",
  removeTime: "Remove {time}",
  days: "Days",
  dayNames: { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday", sun: "Sunday" },
  quietHours: "Quiet hours (no reminders)",
  quietFrom: "From",
  quietTo: "To",
  remindersPaused: "Pause all reminders",
  discreet: "Discreet wording (nothing about the exercises)",
  ownText: "Your own wording (optional)",
  saveSettings: "Save reminder settings",
  settingsSaved: "Saved.",
  upcoming: "Upcoming and recent reminders",
  noReminders: "No reminders in this period.",
  statusNames: { pending: "Planned", sent: "Sent", failed: "Not delivered", cancelled: "Cancelled", dropped: "Skipped" },

  // My data
  accountTitle: "My data",
  signedInAs: "Signed in as {name} ({email})",
  export: "Download my data",
  exportHelp: "A file with everything Tandem holds about you.",
  signOut: "Sign out",
  signOutUnsent: "{n} check-in(s) have not been sent yet. Signing out removes them from this phone for good. Sign out anyway?",
  deleteTitle: "Delete my account",
  deleteHelp: "Your account, all your check-ins and your reminders are erased. Your partner keeps their account, their own check-ins and the couple's program with your therapist; nothing of theirs is deleted or shown to anyone. This cannot be undone.",
  deletePassword: "Your password, to confirm",
  deleteButton: "Delete my account",
  deleteConfirm: "Delete your account and everything in it for good?",
};

export function t(key, values = {}) {
  const text = STRINGS[key];
  if (typeof text !== "string") return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}
