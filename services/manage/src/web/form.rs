//! Form fields as the templates show them: a value kept as typed, and the error beside it.

/// One input of a form.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `email`, `password`.
    pub kind: &'static str,
    pub autocomplete: &'static str,
    /// What the user typed (never a password).
    pub value: String,
    pub error: Option<String>,
    pub hint: &'static str,
    /// Whether the field must be filled (the template marks it `required`).
    pub required: bool,
}

impl Field {
    pub fn new(name: &'static str, label: &'static str, kind: &'static str) -> Self {
        Self {
            name,
            label,
            kind,
            autocomplete: "off",
            value: String::new(),
            error: None,
            hint: "",
            required: true,
        }
    }

    pub fn autocomplete(mut self, a: &'static str) -> Self {
        self.autocomplete = a;
        self
    }

    /// A field that may be left empty.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    pub fn hint(mut self, h: &'static str) -> Self {
        self.hint = h;
        self
    }

    /// Keeps what was typed (passwords are never sent back).
    pub fn value(mut self, v: &str) -> Self {
        if self.kind != "password" {
            v.clone_into(&mut self.value);
        }
        self
    }
}

/// Puts each error next to its field.
pub fn attach(fields: &mut [Field], errors: &[sethub_app::console::FieldError]) {
    for e in errors {
        if let Some(f) = fields.iter_mut().find(|f| f.name == e.field) {
            f.error = Some(e.message.clone());
        }
    }
}
